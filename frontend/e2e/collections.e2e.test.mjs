// Collections in the browser: multi-select in the gallery (click, shift-click), add to a new collection,
// batch delete, share a collection and open its link signed out, revoke it, and the 390 px phone fit.
//
//   E2E_BASE_URL=http://127.0.0.1:3000 node --test e2e/collections.e2e.test.mjs
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { BASE, JOB_TIMEOUT, assertFitsWidth, newPage, signIn, startBrowser, step, stopBrowser, uniqueEmail } from './support.mjs'

const EMAIL = uniqueEmail('collections')
const PROMPTS = ['A quiet harbour at dusk, private prompt one', 'Snowy pine forest, private prompt two']
const shared = {}

/** Call the API from the page with the stored session token. */
async function api(page, method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const res = await fetch(path, {
        method,
        headers: { Authorization: `Bearer ${localStorage.getItem('imagegen.token')}`, 'Content-Type': 'application/json', Accept: 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      const text = await res.text()
      return { status: res.status, body: text ? JSON.parse(text) : null }
    },
    { method, path, body },
  )
}

async function waitCompleted(page, id) {
  const deadline = Date.now() + JOB_TIMEOUT
  for (;;) {
    const { body } = await api(page, 'GET', `/images/${id}`)
    if (body.status === 'COMPLETED') return body
    assert.notEqual(body.status, 'FAILED', `image ${id} failed: ${body.failureReason}`)
    assert.ok(Date.now() < deadline, `image ${id} still ${body.status}`)
    await page.waitForTimeout(500)
  }
}

const card = (page, id) => page.locator(`[data-testid="image-card"][data-image-id="${id}"]`)

describe('collections, batch operations and share links', { concurrency: false }, () => {
  before(startBrowser)
  after(stopBrowser)

  test('two generated images and one upload never posted (it stays PENDING)', { timeout: JOB_TIMEOUT + 90_000 }, async () => {
    const page = await newPage()
    shared.page = page
    await step(page, 'collections-setup', async () => {
      await signIn(page, EMAIL)
      shared.me = (await api(page, 'GET', '/me')).body
      const ids = []
      for (const prompt of PROMPTS) {
        const reply = await api(page, 'POST', '/images/generate', { prompt, width: 256, height: 256 })
        assert.equal(reply.status, 202, JSON.stringify(reply.body))
        ids.push(reply.body.id)
      }
      shared.completed = []
      for (const id of ids) shared.completed.push(await waitCompleted(page, id))
      const upload = await api(page, 'POST', '/images/uploads', { filename: 'never-posted.png', contentType: 'image/png', size: 100 })
      assert.equal(upload.status, 201)
      shared.pending = upload.body.image
    })
  })

  test('selects with a click and a shift-click, and adds them to a new collection', { timeout: 90_000 }, async () => {
    const page = shared.page
    const [first, second] = shared.completed
    await step(page, 'collections-select', async () => {
      await page.goto(`${BASE}/`)
      await page.getByTestId('gallery-grid').waitFor()
      // newest first: the pending upload, the second generation, the first one
      await card(page, first.id).waitFor()
      const order = await page.locator('[data-testid="image-card"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-image-id')))
      assert.deepEqual(order.slice(0, 3), [shared.pending.id, second.id, first.id])
      await card(page, shared.pending.id).getByTestId('select-image').click()
      await card(page, first.id).getByTestId('select-image').click({ modifiers: ['Shift'] })
      assert.equal(await page.getByTestId('selection-count').innerText(), '3 selected')
      assert.equal(await card(page, second.id).getByTestId('select-image').getAttribute('aria-checked'), 'true')
      await page.getByTestId('selection-addToCollection').click()
      await page.getByTestId('collection-picker').waitFor({ state: 'visible' })
      await page.getByTestId('picker-new-title').fill('E2E trip')
      await page.getByTestId('picker-confirm').click()
      await page.getByTestId('toast').getByText('Added to “E2E trip”: 3 new, 0 already there.').waitFor()
      assert.equal(await page.getByTestId('selection-count').innerText(), 'None selected')
    })
  })

  test('deletes a selected image in a batch, and it leaves the collection', { timeout: 90_000 }, async () => {
    const page = shared.page
    const [, second] = shared.completed
    await step(page, 'collections-batch-delete', async () => {
      await card(page, second.id).getByTestId('select-image').click()
      await page.getByTestId('selection-delete').click()
      await page.getByTestId('confirm-dialog').waitFor({ state: 'visible' })
      await page.getByTestId('confirm-ok').click()
      await page.waitForFunction((id) => !document.querySelector(`[data-testid="image-card"][data-image-id="${id}"]`), second.id)
      assert.equal((await api(page, 'GET', `/images/${second.id}`)).status, 404)
      assert.equal((await fetch(second.thumbnailUrl)).status, 404, 'the deleted image rendition is gone')
    })
  })

  test('the collection page shares a link', { timeout: 90_000 }, async () => {
    const page = shared.page
    await step(page, 'collections-share', async () => {
      await page.getByTestId('nav-collections').click()
      await page.waitForURL(`${BASE}/my-collections`)
      const row = page.getByTestId('collection-row').filter({ hasText: 'E2E trip' })
      await row.waitFor()
      assert.equal(await row.getByTestId('collection-count').innerText(), '2 images')
      await row.getByTestId('collection-link').click()
      await page.waitForURL(/\/my-collections\/[^/]+$/)
      await page.getByTestId('collection-grid').waitFor()
      assert.equal(await page.getByTestId('image-card').count(), 2)
      await page.getByTestId('create-link').click()
      const input = page.getByTestId('share-url')
      await input.waitFor()
      shared.shareUrl = await input.inputValue()
      assert.match(shared.shareUrl, /\/s\/[A-Za-z0-9_-]{22,}$/)
    })
  })

  test('the link opened signed out shows only completed images and nothing of the owner', { timeout: 90_000 }, async () => {
    const token = shared.shareUrl.split('/s/')[1]
    const visitor = await newPage() // a fresh browser context: nobody is signed in
    shared.visitor = visitor
    await step(visitor, 'collections-public', async () => {
      await visitor.goto(`${BASE}/s/${token}`)
      await visitor.getByTestId('shared-title').waitFor()
      assert.equal(await visitor.evaluate(() => localStorage.getItem('imagegen.token')), null)
      assert.equal(await visitor.getByTestId('shared-title').innerText(), 'E2E trip')
      assert.equal(await visitor.getByTestId('shared-count').innerText(), '1 image')
      const ids = await visitor.locator('[data-testid="shared-image"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-image-id')))
      assert.deepEqual(ids, [shared.completed[0].id], 'only the completed image, not the pending upload')
      await visitor.waitForFunction(() => {
        const img = document.querySelector('[data-testid="shared-image"] img')
        return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0
      })
      const html = await visitor.content()
      const json = await visitor.evaluate(async (t) => (await fetch(`/shared/${t}`)).text(), token)
      for (const secret of [EMAIL, shared.me.id, ...PROMPTS, shared.completed[0].storageKey, shared.pending.storageKey]) {
        assert.ok(!html.includes(secret), `the page shows ${secret}`)
        assert.ok(!json.includes(secret), `the API answer holds ${secret}`)
      }
      await visitor.setViewportSize({ width: 390, height: 844 })
      await assertFitsWidth(visitor, 390, 'shared page')
    })
  })

  test('revoking the link makes it not found', { timeout: 60_000 }, async () => {
    const page = shared.page
    const token = shared.shareUrl.split('/s/')[1]
    await step(page, 'collections-revoke', async () => {
      await page.getByTestId('revoke-link').click()
      await page.getByTestId('not-shared').waitFor()
      // A new visitor (the first one's browser may keep its copy for the minute of
      // `Cache-Control: public, max-age=60` the contract allows).
      const visitor = await newPage()
      await visitor.goto(`${BASE}/s/${token}`)
      await visitor.getByTestId('shared-missing').waitFor()
      await visitor.context().close()
      await shared.visitor.context().close()
    })
  })

  test('the collection page exports the collection, and the gallery its selection, as ZIPs', { timeout: JOB_TIMEOUT + 60_000 }, async () => {
    const page = shared.page
    await step(page, 'collections-export', async () => {
      await page.getByTestId('export-button').click()
      await page.waitForURL(/\/export\/[^/]+$/)
      await page.getByTestId('export-download').waitFor({ timeout: JOB_TIMEOUT })
      assert.equal(await page.getByTestId('export-status').innerText(), 'Ready')
      await page.goto(`${BASE}/`)
      await card(page, shared.completed[0].id).getByTestId('select-image').click()
      await page.getByTestId('selection-export').click()
      await page.waitForURL(/\/export\/[^/]+$/)
      await page.getByTestId('export-download').waitFor({ timeout: JOB_TIMEOUT })
      await page.goto(`${BASE}/my-collections`)
      await page.getByTestId('collection-row').filter({ hasText: 'E2E trip' }).getByTestId('collection-link').click()
      await page.waitForURL(/\/my-collections\/[^/]+$/)
      await page.getByTestId('collection-grid').waitFor()
    })
  })

  test('the new screens fit a 390 px phone', { timeout: 60_000 }, async () => {
    const page = shared.page
    await step(page, 'collections-phone', async () => {
      await page.setViewportSize({ width: 390, height: 844 })
      await assertFitsWidth(page, 390, 'collection page')
      await page.goto(`${BASE}/my-collections`)
      await page.getByTestId('collection-list').waitFor()
      await assertFitsWidth(page, 390, 'collections screen')
      await page.goto(`${BASE}/`)
      await page.getByTestId('selection-toolbar').waitFor()
      await page.getByTestId('select-all').click()
      await assertFitsWidth(page, 390, 'gallery with a selection')
    })
  })
})
