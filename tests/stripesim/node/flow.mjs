// The official Node SDK (stripe 23.1.0, pinned to the same API version as the Python SDK) runs a
// short billing flow against stripesim: a customer, a subscription bought through Checkout, an
// upgrade invoiced at once, a preview, a cancellation at the period end, a portal session, a
// declined confirmation and the webhooks of all that, verified with constructEvent.
//
// Usage: node flow.mjs <stripesim base URL> <secret key>. Prints one JSON object of what it saw;
// exits non-zero on the first step that does not go as it would on Stripe.
import http from 'node:http';
import assert from 'node:assert/strict';
import Stripe from 'stripe';

const [base, key] = process.argv.slice(2);
const url = new URL(base);
const stripe = new Stripe(key, {
  host: url.hostname,
  port: url.port,
  protocol: url.protocol.replace(':', ''),
  maxNetworkRetries: 0,
});
const seen = {};

// A webhook endpoint on this process; each delivery is verified as an app would verify it.
const deliveries = [];
let secret = '';
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    try {
      const event = stripe.webhooks.constructEvent(body, req.headers['stripe-signature'], secret);
      deliveries.push(event);
      res.writeHead(200).end();
    } catch (err) {
      deliveries.push({error: String(err)});
      res.writeHead(400).end();
    }
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const endpoint = await stripe.webhookEndpoints.create({
  url: `http://127.0.0.1:${server.address().port}/hook`,
  enabled_events: ['*'],
});
secret = endpoint.secret;

async function waitFor(what, condition, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// A catalog and a customer.
const product = await stripe.products.create({name: 'Node flow'});
const [basic, pro] = await Promise.all(
  [1000, 3000].map((unit_amount) =>
    stripe.prices.create({product: product.id, currency: 'usd', unit_amount, recurring: {interval: 'month'}}),
  ),
);
const customer = await stripe.customers.create({email: 'node@example.com', metadata: {user_id: 'node-1'}});
seen.customer = customer.id;

// A subscription bought through Checkout; the hosted page is completed as a customer would.
const session = await stripe.checkout.sessions.create({
  mode: 'subscription',
  customer: customer.id,
  line_items: [{price: basic.id, quantity: 1}],
  success_url: 'http://127.0.0.1/ok',
});
assert.equal(session.ui_mode, 'hosted_page');
const paid = await fetch(`${base}/_sim/checkout/sessions/${session.id}/complete`, {
  method: 'POST',
  body: new URLSearchParams({card: '4242424242424242'}),
});
assert.equal(paid.status, 200, `completing the session: ${paid.status}`);
const done = await stripe.checkout.sessions.retrieve(session.id, {expand: ['subscription']});
assert.equal(done.status, 'complete');
assert.equal(done.payment_status, 'paid');
const sub = done.subscription;
assert.equal(sub.status, 'active');
seen.checkout = {session: done.id, subscription: sub.id, status: sub.status};

// Upgrade now, prorated and invoiced at once.
const upgraded = await stripe.subscriptions.update(sub.id, {
  items: [{id: sub.items.data[0].id, price: pro.id}],
  proration_behavior: 'always_invoice',
  expand: ['latest_invoice'],
});
assert.equal(upgraded.items.data[0].price.id, pro.id);
assert.equal(upgraded.latest_invoice.status, 'paid');
assert.equal(upgraded.latest_invoice.billing_reason, 'subscription_update');
seen.upgrade = {invoice: upgraded.latest_invoice.id, amount_paid: upgraded.latest_invoice.amount_paid};

// The next invoice, previewed.
const preview = await stripe.invoices.createPreview({customer: customer.id, subscription: sub.id});
assert.ok(preview.id.startsWith('upcoming_in_'));
assert.equal(preview.lines.data.at(-1).pricing.price_details.price, pro.id);
seen.preview = {amount_due: preview.amount_due};

// Cancel at the period end.
const canceling = await stripe.subscriptions.update(sub.id, {cancel_at_period_end: true});
assert.equal(canceling.cancel_at_period_end, true);
assert.equal(canceling.status, 'active');
seen.cancel_at = canceling.cancel_at;

// A portal session for the customer.
const portal = await stripe.billingPortal.sessions.create({customer: customer.id, return_url: 'http://127.0.0.1/account'});
assert.ok(portal.url.includes(portal.id) || portal.url.startsWith('http'));
seen.portal = portal.id;

// A declined confirmation raises StripeCardError (a 402), carrying the decline and the intent.
try {
  await stripe.paymentIntents.create({
    amount: 2000,
    currency: 'usd',
    customer: customer.id,
    payment_method: 'pm_card_chargeDeclinedInsufficientFunds',
    confirm: true,
  });
  assert.fail('a declined card was accepted');
} catch (err) {
  assert.ok(err instanceof Stripe.errors.StripeCardError, `expected StripeCardError, got ${err && err.type}`);
  assert.equal(err.statusCode, 402);
  assert.equal(err.code, 'card_declined');
  assert.equal(err.decline_code, 'insufficient_funds');
  assert.equal(err.payment_intent.status, 'requires_payment_method');
  seen.decline = {type: err.type, code: err.code, decline_code: err.decline_code, status: err.statusCode};
}

// The webhooks of all of it, each verified; a tampered one is refused.
// Every type test_node_sdk.py asserts, waited for: they arrive in any order.
const expected = [
  'checkout.session.completed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'invoice.paid',
  'billing_portal.session.created',
  'payment_intent.payment_failed',
];
await waitFor('the checkout, portal and upgrade webhooks', () =>
  expected.every((t) => deliveries.some((d) => d.type === t)),
);
assert.deepEqual(deliveries.filter((d) => d.error), []);
const completed = deliveries.find((d) => d.type === 'checkout.session.completed');
assert.equal(completed.data.object.id, session.id);
assert.throws(
  () =>
    stripe.webhooks.constructEvent(
      JSON.stringify(completed),
      stripe.webhooks.generateTestHeaderString({payload: JSON.stringify(completed), secret: 'whsec_wrong'}),
      secret,
    ),
  Stripe.errors.StripeSignatureVerificationError,
);
seen.webhooks = [...new Set(deliveries.map((d) => d.type))].sort();

server.close();
console.log(JSON.stringify(seen));
