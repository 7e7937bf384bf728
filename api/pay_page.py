"""The hosted pay page behind a pay link. Card data goes from the browser to Stripe.js only;
our server sees a PaymentMethod id, never a card number."""

from __future__ import annotations

import html
import json

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hotline · 支付订单 __NUMBER__</title>
<style>
body{font-family:"WenQuanYi Micro Hei",sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}
#card{border:1px solid #999;padding:.6rem;margin:1rem 0}
button{font-size:1.1rem;padding:.5rem 1.5rem}
</style>
<script src="__JS__"></script>
</head><body>
<h1>支付订单 Order __NUMBER__</h1>
<p>应付 Amount due: <strong id="amount">__AMOUNT__</strong></p>
<div id="card"></div>
<button id="pay" type="button">支付 Pay</button>
<p id="result" role="status" data-status="__STATUS__">__STATUS_TEXT__</p>
<script>
const CONFIG = __CONFIG__;
const result = document.getElementById("result");
function show(status, text) { result.dataset.status = status; result.textContent = text || status; }
async function post(step, body) {
  const r = await fetch(CONFIG.base + "/" + step, {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body || {})});
  return r.json();
}
if (CONFIG.setup_secret && CONFIG.status === "pending") {
  const stripe = Stripe(CONFIG.publishable_key);
  const card = stripe.elements().create("card");
  card.mount("#card");
  document.getElementById("pay").addEventListener("click", async () => {
    show("working", "处理中 Processing...");
    const setup = await stripe.confirmCardSetup(CONFIG.setup_secret, {payment_method: {card}});
    if (setup.error) {
      show("failed", "卡片未通过 Card refused: " + (setup.error.message || ""));
      return;
    }
    const pm = setup.setupIntent.payment_method;
    let r = await post("charge", {payment_method: typeof pm === "string" ? pm : pm.id});
    if (r.status === "requires_action" && r.client_secret) {
      await stripe.confirmCardPayment(r.client_secret);
      r = await post("confirm", {});
    }
    show(r.status || "failed", r.status === "succeeded" ? "支付成功 Paid" : (r.detail || r.status));
  });
} else {
  document.getElementById("pay").disabled = true;
}
</script>
</body></html>
"""


def render(
    *,
    number: str,
    amount: str,
    status: str,
    js_url: str,
    status_text: str | None = None,
    publishable_key: str,
    setup_secret: str | None,
    base: str,
) -> str:
    config = {
        "publishable_key": publishable_key,
        "setup_secret": setup_secret,
        "status": status,
        "base": base,
    }
    # JSON inside <script>: escape "<" so no value can close the tag.
    config_js = json.dumps(config).replace("<", "\\u003c")
    return (
        _PAGE.replace("__JS__", html.escape(js_url))
        .replace("__NUMBER__", html.escape(number))
        .replace("__AMOUNT__", html.escape(amount))
        .replace("__STATUS_TEXT__", html.escape(status_text or status))
        .replace("__STATUS__", html.escape(status))
        .replace("__CONFIG__", config_js)
    )
