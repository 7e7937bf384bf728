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
body[data-status=not_payable] #card,body[data-status=not_payable] #pay{display:none}
</style>
<script src="__JS__"></script>
</head><body data-status="__STATUS__">
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


# The demo card form (HOTLINE_ENV=demo without a Stripe key): served by the app, no Stripe.js
# from the internet. Only published test numbers are accepted, and the page turns them into
# Stripe's test PaymentMethod ids itself, so no card number is ever posted to the server.
_DEMO_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Hotline · 支付订单 __NUMBER__ (demo)</title>
<style>
body{font-family:"WenQuanYi Micro Hei",sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}
.demo{background:#fff3cd;border:2px solid #c90;padding:.6rem;font-weight:bold}
input{font-size:1.1rem;padding:.4rem;margin:.3rem 0;width:100%;box-sizing:border-box}
button{font-size:1.1rem;padding:.5rem 1.5rem}
</style>
</head><body>
<p class="demo" id="demo-banner">演示 demo: no real card — 不会扣款, nothing is charged.
Test cards: 4242 4242 4242 4242 (approved), 4000 0000 0000 0002 (declined).</p>
<h1>支付订单 Order __NUMBER__</h1>
<p>应付 Amount due: <strong id="amount">__AMOUNT__</strong></p>
<form id="card" autocomplete="off">
<input id="number" name="number" inputmode="numeric" placeholder="test card number">
<input id="expiry" name="expiry" placeholder="MM/YY" value="12/34">
<input id="cvc" name="cvc" placeholder="CVC" value="123">
</form>
<button id="pay" type="button">支付 Pay (demo)</button>
<p id="result" role="status" data-status="__STATUS__">__STATUS_TEXT__</p>
<script>
const CONFIG = __CONFIG__;
const TEST_CARDS = {
  "4242424242424242": "pm_card_visa",
  "5555555555554444": "pm_card_mastercard",
  "6200000000000005": "pm_card_unionpay",
  "4000000000000002": "pm_card_chargeDeclined",
  "4000000000000341": "pm_card_chargeCustomerFail",
  "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
};
const result = document.getElementById("result");
function show(status, text) { result.dataset.status = status; result.textContent = text || status; }
const pay = document.getElementById("pay");
if (CONFIG.status !== "pending") {
  pay.disabled = true;
} else {
  pay.addEventListener("click", async () => {
    const digits = document.getElementById("number").value.replace(/\\D/g, "");
    const pm = TEST_CARDS[digits];
    if (!pm) { show("failed", "演示只接受测试卡 Demo accepts test cards only"); return; }
    show("working", "处理中 Processing...");
    const r = await fetch(CONFIG.base + "/charge", {method: "POST",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({payment_method: pm})});
    const body = await r.json();
    show(body.status || "failed",
      body.status === "succeeded" ? "支付成功 Paid" : (body.detail || body.status || "failed"));
  });
}
</script>
</body></html>
"""


def render_demo(*, number: str, amount: str, status: str, base: str) -> str:
    config_js = json.dumps({"status": status, "base": base}).replace("<", "\\u003c")
    return (
        _DEMO_PAGE.replace("__NUMBER__", html.escape(number))
        .replace("__AMOUNT__", html.escape(amount))
        .replace("__STATUS_TEXT__", html.escape(status))
        .replace("__STATUS__", html.escape(status))
        .replace("__CONFIG__", config_js)
    )
