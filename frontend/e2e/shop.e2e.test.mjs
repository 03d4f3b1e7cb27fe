// The coin shop end to end: buy a pack on the local Stripe stand-in's checkout page and see the balance
// change exactly once (the stand-in delivers every webhook twice), cancel a checkout, refund a purchase,
// the admin purchases list, and the shop's screens on a 390 px phone.
//
//   E2E_BASE_URL=http://127.0.0.1:3000 node --test e2e/shop.e2e.test.mjs
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  ADMIN_EMAIL, BASE, assertFitsWidth, headerBalance, newPage, shot, signIn, startBrowser, step, stopBrowser, uniqueEmail,
} from './support.mjs'

const shared = {}

/** The number in the header's balance badge ("1,234 coins" -> 1234; a negative balance too). */
async function balance(page) {
  const text = await headerBalance(page).innerText()
  return Number(text.replace(/[^\d-]/g, ''))
}

/** The purchases rows of the account page, by status. */
async function purchaseStatuses(page) {
  return page.locator('[data-testid="purchases"] [data-testid="purchase-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status')))
}

async function ledgerReasons(page) {
  return page.locator('[data-testid="ledger-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-reason')))
}

/** Open the account page afresh until `check(page)` holds (webhooks arrive from the stand-in's own thread). */
async function accountUntil(page, check, what) {
  const deadline = Date.now() + 30_000
  for (;;) {
    await page.goto(`${BASE}/account`)
    await page.locator('[data-testid="ledger"], [data-testid="purchases"]').first().waitFor()
    await page.waitForTimeout(300)
    if (await check(page)) {
      // The header's balance was read when the page loaded, maybe just before the change landed: read
      // it (and the lists) once more, now that the change is known to be there.
      await page.reload()
      await page.locator('[data-testid="ledger"], [data-testid="purchases"]').first().waitFor()
      await page.waitForTimeout(300)
      return
    }
    if (Date.now() > deadline) assert.fail(`the account page never showed ${what}`)
    await page.waitForTimeout(700)
  }
}

describe('coin shop end to end', { concurrency: false }, () => {
  before(startBrowser)
  after(stopBrowser)

  test('buys a pack through the stand-in checkout; the balance changes exactly once', { timeout: 120_000 }, async () => {
    const page = await newPage()
    shared.page = page
    await step(page, 'shop-buy', async () => {
      await signIn(page, uniqueEmail('shop'))
      shared.start = await balance(page)
      await page.getByTestId('nav-buy').click()
      await page.waitForURL(`${BASE}/buy`)
      const small = page.locator('[data-testid="pack"][data-pack="small"]')
      await small.waitFor()
      assert.match(await small.getByTestId('pack-price').innerText(), /\$4\.99/)
      await shot(page, 'shop-packs')
      await page.getByTestId('buy-small').click()
      // Stripe Checkout: the stand-in's page, with Pay and Cancel
      await page.waitForURL(/\/_local\/stripe\/checkout\/cs_test_/)
      await page.getByRole('button', { name: 'Pay' }).click()
      await page.waitForURL(/\/shop\/success\?purchase=/)
      shared.purchaseId = new URL(page.url()).searchParams.get('purchase')
      await page.getByTestId('purchase-paid').waitFor({ timeout: 30_000 })
      await shot(page, 'shop-success')
      assert.equal(await balance(page), shared.start + 500)
      // The second delivery of the same event has arrived by now (or will): it changes nothing.
      await page.waitForTimeout(2000)
      await accountUntil(page, async (p) => (await purchaseStatuses(p)).includes('PAID'), 'a PAID purchase')
      assert.equal(await balance(page), shared.start + 500, 'credited once despite the double delivery')
      const reasons = await ledgerReasons(page)
      assert.equal(reasons.filter((r) => r === 'purchase').length, 1, `one purchase entry: ${reasons}`)
    })
  })

  test('a cancelled checkout takes nothing and gives nothing', { timeout: 90_000 }, async () => {
    const page = shared.page
    assert.ok(page, 'signed-in page from the previous test')
    await step(page, 'shop-cancel', async () => {
      await page.goto(`${BASE}/buy`)
      await page.getByTestId('buy-medium').click()
      await page.waitForURL(/\/_local\/stripe\/checkout\//)
      await page.getByRole('button', { name: 'Cancel' }).click()
      await page.waitForURL(`${BASE}/shop/cancel`)
      await page.getByTestId('shop-cancelled').waitFor()
      await accountUntil(page, async (p) => (await purchaseStatuses(p)).includes('EXPIRED'), 'an EXPIRED purchase')
      assert.equal(await balance(page), shared.start + 500)
    })
  })

  test('a refund reverses the purchase once', { timeout: 90_000 }, async () => {
    const page = shared.page
    await step(page, 'shop-refund', async () => {
      const reply = await fetch(`${BASE}/_local/stripe/refund/${encodeURIComponent(shared.purchaseId)}`, { method: 'POST' })
      assert.equal(reply.status, 200)
      await accountUntil(page, async (p) => (await purchaseStatuses(p)).includes('REVERSED'), 'a REVERSED purchase')
      assert.equal(await balance(page), shared.start)
      const reasons = await ledgerReasons(page)
      assert.equal(reasons.filter((r) => r === 'purchase_reversal').length, 1, `one reversal: ${reasons}`)
      await shot(page, 'shop-account')
    })
  })

  test('admins see every purchase, by status', { timeout: 90_000 }, async () => {
    const admin = await newPage()
    await step(admin, 'shop-admin', async () => {
      await signIn(admin, ADMIN_EMAIL)
      await admin.getByTestId('nav-manage').click()
      await admin.getByTestId('tab-purchases').click()
      const rows = admin.locator('[data-testid="admin-purchases"] [data-testid="purchase-row"]')
      await rows.first().waitFor()
      await admin.getByTestId('purchase-status').selectOption('REVERSED')
      await admin.waitForFunction(() =>
        [...document.querySelectorAll('[data-testid="admin-purchases"] [data-testid="purchase-row"]')].every((r) => r.getAttribute('data-status') === 'REVERSED'),
      )
      assert.ok((await rows.count()) >= 1)
      shared.admin = admin
    })
  })

  test('the shop screens fit a 390 px wide phone', { timeout: 90_000 }, async () => {
    const page = shared.page
    const phone = { width: 390, height: 844 }
    await step(page, 'shop-phone', async () => {
      await page.setViewportSize(phone)
      for (const [path, label, ready] of [
        ['/buy', 'Buy coins', '[data-testid="pack"]'],
        [`/shop/success?purchase=${encodeURIComponent(shared.purchaseId)}`, 'Checkout return', '[data-testid="purchase-result"]'],
        ['/shop/cancel', 'Checkout cancelled', '[data-testid="shop-cancelled"]'],
        ['/account', 'Account with purchases', '[data-testid="purchases"]'],
      ]) {
        await page.goto(`${BASE}${path}`)
        await page.locator(ready).first().waitFor()
        await assertFitsWidth(page, phone.width, label)
      }
      await shot(page, 'phone-shop')
      if (shared.admin) {
        await shared.admin.setViewportSize(phone)
        await assertFitsWidth(shared.admin, phone.width, 'Admin purchases')
      }
    })
  })
})
