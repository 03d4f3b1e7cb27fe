// Live updates in the browser: with the socket up, a generation's progress and the balance arrive by
// push (no GET /images/{id} at all); with the socket refused, the app polls and still gets there.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { BASE, JOB_TIMEOUT, headerBalance, newPage, signIn, startBrowser, step, stopBrowser, uniqueEmail, waitForCompletion } from './support.mjs'

/** Count the requests for one image (GET /images/<id>) the page makes. */
function countImageReads(page) {
  const reads = []
  page.on('request', (request) => {
    const url = new URL(request.url())
    if (request.method() === 'GET' && url.origin === new URL(BASE).origin && /^\/images\/[^/]+$/.test(url.pathname)) {
      reads.push(url.pathname)
    }
  })
  return reads
}

async function generate(page, prompt) {
  await page.getByTestId('nav-create').click()
  await page.waitForURL(`${BASE}/create`)
  await page.getByTestId('generation-cost').waitFor()
  await page.getByTestId('prompt').fill(prompt)
  await page.getByTestId('width').selectOption('256')
  await page.getByTestId('height').selectOption('256')
  await page.getByTestId('generate-submit').click()
  await waitForCompletion(page)
}

describe('live updates', { concurrency: false }, () => {
  before(startBrowser)
  after(stopBrowser)

  test('with the socket up, progress and balance come by push, without polling', { timeout: JOB_TIMEOUT + 60_000 }, async () => {
    const page = await newPage()
    const reads = countImageReads(page)
    const sockets = []
    page.on('websocket', (ws) => sockets.push(ws.url()))
    await step(page, 'live-generate', async () => {
      await signIn(page, uniqueEmail('live'))
      await page.locator('header[data-live="on"]').waitFor()
      assert.ok(sockets.some((url) => url.startsWith(`${BASE.replace('http', 'ws')}/ws?token=`)), sockets.join(', '))
      const before = Number(await headerBalance(page).getAttribute('data-coins'))
      await generate(page, 'A lighthouse on a cliff, pushed live')
      assert.deepEqual(reads, [], `the page polled while its socket was up: ${reads.join(', ')}`)
      await page.waitForFunction(
        (expected) => Number(document.querySelector('header [data-testid="coin-balance"]')?.getAttribute('data-coins')) < expected,
        before,
      )
    })
    await page.context().close()
  })

  test('with the socket refused, the app falls back to polling and still completes', { timeout: JOB_TIMEOUT + 60_000 }, async () => {
    const page = await newPage()
    await page.context().routeWebSocket(/\/ws(\?|$)/, (ws) => ws.close({ code: 1011, reason: 'refused for the test' }))
    const reads = countImageReads(page)
    await step(page, 'live-fallback', async () => {
      await signIn(page, uniqueEmail('nolive'))
      await generate(page, 'A lighthouse on a cliff, polled')
      assert.equal(await page.locator('header').getAttribute('data-live'), 'off')
      assert.ok(reads.length > 0, 'without a socket the page must poll')
    })
    await page.context().close()
  })
})
