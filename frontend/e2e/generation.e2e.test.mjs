// Generation options and variations in the browser, against a running local stack (provider `local`):
// a styled, seeded, premium generation charged the premium price; "Reuse this seed" prefilling Create;
// a variation that completes with its source shown; the new screens at 390 px.
//
//   E2E_BASE_URL=http://127.0.0.1:3000 node --test e2e/generation.e2e.test.mjs
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  ADMIN_EMAIL, BASE, JOB_TIMEOUT, assertFitsWidth, headerBalance, newPage, shot, signIn, startBrowser, step,
  stopBrowser, uniqueEmail, waitForCompletion,
} from './support.mjs'

const SEED = '4242'
const shared = {}

async function apiCall(page, method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const token = localStorage.getItem('imagegen.token')
      const res = await fetch(path, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      return { status: res.status, body: res.status === 204 ? null : await res.json() }
    },
    { method, path, body },
  )
}

async function balance(page) {
  await headerBalance(page).waitFor()
  return Number((await headerBalance(page).innerText()).replace(/[^0-9]/g, ''))
}

/** Wait until the image page shows a final status; fail fast on FAILED. */
async function waitForDetailCompleted(page) {
  const handle = await page.waitForFunction(
    () => {
      const status = document.querySelector('[data-testid="image-detail"]')?.getAttribute('data-status')
      return status === 'COMPLETED' || status === 'FAILED' ? status : null
    },
    undefined,
    { timeout: JOB_TIMEOUT, polling: 500 },
  )
  assert.equal(await handle.jsonValue(), 'COMPLETED', 'the variation completes')
}

describe('generation options and variations', { concurrency: false }, () => {
  before(startBrowser)
  after(stopBrowser)

  test('a styled, seeded premium generation is charged the premium price', { timeout: JOB_TIMEOUT + 90_000 }, async () => {
    const page = await newPage()
    shared.page = page
    await step(page, 'generation-signin', async () => {
      await signIn(page, uniqueEmail('genopts'))
      await headerBalance(page).waitFor()
    })
    await step(page, 'generation-grant', async () => {
      // A premium image and a variation cost more than the sign-up bonus: an admin grants the difference.
      const me = await apiCall(page, 'GET', '/me')
      const admin = await newPage()
      await signIn(admin, ADMIN_EMAIL)
      const granted = await apiCall(admin, 'POST', `/admin/users/${me.body.id}/coins`, { amount: 100, reason: 'e2e: generation options' })
      assert.equal(granted.status, 200, JSON.stringify(granted.body))
      await admin.context().close()
    })
    const options = (await apiCall(page, 'GET', '/generation/options')).body
    shared.options = options
    await step(page, 'generation-premium', async () => {
      await page.goto(`${BASE}/create`)
      await page.getByTestId('options').waitFor()
      const before = await balance(page)
      await page.getByTestId('prompt').fill('A lighthouse on a cliff above a stormy sea')
      await page.getByTestId('width').selectOption('512')
      await page.getByTestId('height').selectOption('384')
      await page.getByTestId('style').selectOption('noir')
      await page.getByTestId('negative-prompt').fill('people')
      await page.getByTestId('seed').fill(SEED)
      await page.getByTestId('quality-premium').check()
      assert.equal(await page.getByTestId('generation-cost').innerText(), `This costs ${options.costs.premium} coins.`)
      await shot(page, 'create-options')
      await page.getByTestId('generate-submit').click()
      await waitForCompletion(page)
      await page.waitForFunction((expected) => {
        const text = document.querySelector('header [data-testid="coin-balance"]')?.textContent ?? ''
        return Number(text.replace(/[^0-9]/g, '')) === expected
      }, before - options.costs.premium)
      const ledger = (await apiCall(page, 'GET', '/me/ledger')).body.items
      assert.equal(ledger[0].amount, -options.costs.premium, 'charged the premium price')
      assert.equal(ledger[0].reason, 'image_generation')
      await page.getByTestId('open-image').click()
      await page.getByTestId('generation-seed').waitFor()
      shared.imageUrl = page.url()
      assert.equal(await page.getByTestId('generation-seed').innerText(), SEED)
      assert.equal(await page.getByTestId('generation-style').innerText(), 'Noir')
      assert.equal(await page.getByTestId('generation-quality').innerText(), 'Premium')
      assert.equal(await page.getByTestId('generation-negative').innerText(), 'people')
    })
  })

  test('"Reuse this seed" prefills Create with the seed and options', { timeout: 60_000 }, async () => {
    const page = shared.page
    assert.ok(page && shared.imageUrl, 'the image of the previous test')
    await step(page, 'generation-reuse', async () => {
      await page.getByTestId('reuse-seed').click()
      await page.waitForURL(/\/create\?/)
      await page.getByTestId('prefilled').waitFor()
      assert.equal(await page.getByTestId('seed').inputValue(), SEED)
      assert.equal(await page.getByTestId('style').inputValue(), 'noir')
      assert.equal(await page.getByTestId('prompt').inputValue(), 'A lighthouse on a cliff above a stormy sea')
      assert.equal(await page.getByTestId('width').inputValue(), '512')
      assert.ok(await page.getByTestId('quality-premium').isChecked(), 'premium again')
    })
  })

  test('a variation completes and shows its source', { timeout: JOB_TIMEOUT + 60_000 }, async () => {
    const page = shared.page
    await step(page, 'generation-variation', async () => {
      await page.goto(shared.imageUrl)
      const sourceId = shared.imageUrl.split('/').pop()
      const before = await balance(page)
      await page.getByTestId('make-variations').click()
      await page.getByTestId('variation-form').waitFor()
      await page.getByTestId('variation-strength').fill('0.3')
      await page.getByTestId('variation-prompt').fill('the same lighthouse at night')
      await shot(page, 'detail-variation')
      await page.getByTestId('variation-submit').click()
      await page.waitForURL((url) => url.pathname.startsWith('/view/') && !url.pathname.endsWith(sourceId))
      await waitForDetailCompleted(page)
      const link = page.getByTestId('source-link')
      await link.waitFor()
      assert.ok((await link.getAttribute('href')).endsWith(`/view/${sourceId}`), 'links to its source')
      assert.equal(await balance(page), before - shared.options.costs.standard, 'charged like a generation')
      const variationId = page.url().split('/').pop()
      const image = (await apiCall(page, 'GET', `/images/${variationId}`)).body
      assert.equal(image.sourceImageId, sourceId)
      assert.equal(image.generation.strength, 0.3)
      shared.variationUrl = page.url()
    })
  })

  test('the new screens fit a 390 px phone', { timeout: 60_000 }, async () => {
    const page = shared.page
    const phone = { width: 390, height: 844 }
    await step(page, 'generation-phone', async () => {
      await page.setViewportSize(phone)
      await page.goto(`${BASE}/create?seed=${SEED}&style=noir&prompt=phone`)
      await page.getByTestId('options').waitFor()
      await assertFitsWidth(page, phone.width, 'Create with options')
      await page.goto(shared.imageUrl)
      await page.getByTestId('make-variations').click()
      await page.getByTestId('variation-form').waitFor()
      await assertFitsWidth(page, phone.width, 'Image page with the variation form')
      await page.goto(shared.variationUrl)
      await page.getByTestId('source-link').waitFor()
      await assertFitsWidth(page, phone.width, 'A variation')
    })
    await page.context().close()
  })
})
