// End-to-end tests of the web app against a running local stack.
//
//   E2E_BASE_URL=http://127.0.0.1:3000 npm run e2e
//
// The stack serves the built app (frontend/dist) and the API on the same
// origin, with its Google stand-in (/_local/google/*). See README.md.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { gradientPng } from './png.mjs'
import {
  ADMIN_EMAIL, BASE, JOB_TIMEOUT, PUT_BASE, USER_EMAIL, assertFitsWidth, headerBalance, newPage, shot, signIn,
  startBrowser, step, stopBrowser, waitForCompletion,
} from './support.mjs'

const GRANT = 25
const shared = {}

describe('web app end to end', { concurrency: false }, () => {
  before(startBrowser)
  after(stopBrowser)

  test('a new user signs in with the Google stand-in', { timeout: 90_000 }, async () => {
    const page = await newPage()
    shared.userPage = page
    await step(page, 'signin', async () => {
      await signIn(page, USER_EMAIL, 'signin')
      await page.getByTestId('coin-balance').waitFor()
      await page.waitForFunction(() => document.querySelector('[data-testid="gallery-empty"], [data-testid="gallery-grid"]'))
    })
  })

  test('a session token the app did not ask for is refused on /auth/callback', { timeout: 60_000 }, async () => {
    const token = await shared.userPage.evaluate(() => localStorage.getItem('imagegen.token'))
    assert.ok(token, 'token of the signed-in user')
    // another browser lands on the callback with a (valid) token, without having started a sign-in: login CSRF
    const page = await newPage()
    await step(page, 'callback-not-started', async () => {
      await page.goto(`${BASE}/auth/callback#token=${encodeURIComponent(token)}`)
      await page.getByTestId('error').getByText('This sign-in was not started here; sign in again.').waitFor()
      assert.equal(await page.evaluate(() => localStorage.getItem('imagegen.token')), null, 'the token is not stored')
      assert.ok(!page.url().includes('token='), 'the token is removed from the address bar')
      await page.goto(`${BASE}/account`)
      await page.waitForURL(`${BASE}/signin`)
    })
    await page.context().close()
  })

  test('generates an image and sees its thumbnail appear', { timeout: JOB_TIMEOUT + 60_000 }, async () => {
    const page = shared.userPage
    assert.ok(page, 'signed-in page from the previous test')
    await step(page, 'generate', async () => {
      await page.getByTestId('nav-create').click()
      await page.waitForURL(`${BASE}/create`)
      await page.getByTestId('generation-cost').waitFor()
      await page.getByTestId('prompt').fill('A calm lake at dawn with mountains, soft pastel colours')
      await page.getByTestId('gen-title').fill('Dawn lake')
      await page.getByTestId('width').selectOption('256')
      await page.getByTestId('height').selectOption('256')
      await shot(page, 'create')
      await page.getByTestId('generate-submit').click()
      await waitForCompletion(page)
      await shot(page, 'create-completed')
    })
  })

  test('uploads a PNG through the file input and sees it complete', { timeout: JOB_TIMEOUT + 60_000 }, async () => {
    const page = shared.userPage
    await step(page, 'upload', async () => {
      await page.getByTestId('nav-upload').click()
      await page.waitForURL(`${BASE}/upload`)
      await page.getByTestId('file-input').setInputFiles({ name: 'e2e-gradient.png', mimeType: 'image/png', buffer: gradientPng(96, 64) })
      await page.locator('#upload-title').fill('E2E gradient')
      await shot(page, 'upload')
      await page.getByTestId('upload-submit').click()
      await waitForCompletion(page)
      await shot(page, 'upload-completed')
      await page.getByTestId('open-image').click()
      await page.waitForURL(/\/view\/[^/]+$/)
      shared.uploadedId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop())
    })
  })

  test('opens the image detail, edits it and deletes it', { timeout: 90_000 }, async () => {
    const page = shared.userPage
    assert.ok(shared.uploadedId, 'uploaded image id from the previous test')
    await step(page, 'detail', async () => {
      await page.waitForSelector('[data-testid="image-detail"][data-status="COMPLETED"]')

      // Download: the app fetches /images/{id}/download with the token and
      // saves the file (or, when the storage has no CORS, opens the object).
      const saved = page.waitForEvent('download', { timeout: 20_000 }).then((d) => ({ kind: 'download', name: d.suggestedFilename() }))
      const opened = page.context().waitForEvent('page', { timeout: 20_000 }).then((p) => ({ kind: 'popup', name: p.url() }))
      await page.getByTestId('download').click()
      const outcome = await Promise.any([saved, opened]).catch(() => null)
      assert.ok(outcome, 'Download neither saved a file nor opened the image')
      if (outcome.kind === 'download') assert.match(outcome.name, /\.png$/i)
      else console.log(`download opened ${outcome.name} (the storage's signed URL is not readable cross-origin)`)
      assert.equal(await page.getByTestId('error').count(), 0, 'no error after the download')

      await page.getByTestId('edit-title').fill('E2E gradient, renamed')
      await page.getByTestId('save').click()
      await page.getByTestId('toast').waitFor()
      await assert.doesNotReject(page.waitForFunction(() => document.querySelector('[data-testid="detail-title"]')?.textContent?.includes('renamed')))
      await shot(page, 'detail')

      await page.getByTestId('delete').click()
      const dialog = page.getByTestId('confirm-dialog')
      await dialog.waitFor({ state: 'visible' })
      await page.getByTestId('confirm-ok').click()
      await page.waitForURL(`${BASE}/`)
      await page.getByTestId('gallery-grid').waitFor()
      // the generated image is still there, the deleted one is gone
      await page.waitForFunction((id) => !document.querySelector(`[data-image-id="${id}"]`), shared.uploadedId)
      assert.ok((await page.getByTestId('image-card').count()) >= 1, 'the generated image stays in the gallery')
      await shot(page, 'gallery')

      const status = await page.evaluate(async (id) => {
        const res = await fetch(`/images/${encodeURIComponent(id)}`, { headers: { Authorization: `Bearer ${localStorage.getItem('imagegen.token')}` } })
        return res.status
      }, shared.uploadedId)
      assert.equal(status, 404, 'a deleted image is gone from the API')
    })
  })

  test('the account screen shows balance, stats and the coin history', { timeout: 60_000 }, async () => {
    const page = shared.userPage
    await step(page, 'account', async () => {
      await page.getByTestId('nav-account').click()
      await page.waitForURL(`${BASE}/account`)
      await page.getByTestId('stats').waitFor()
      await page.getByTestId('ledger').waitFor()
      assert.equal(await page.getByTestId('account-email').innerText(), USER_EMAIL)
      await shot(page, 'account')
    })
  })

  test('a 402 brings the header balance up to date', { timeout: 60_000 }, async () => {
    const page = shared.userPage
    await step(page, 'insufficient-coins', async () => {
      // Without its live socket (refused from now on in this browser), the app cannot hear of spending
      // in another tab: the 402 is what tells it (live.e2e.test.mjs covers the pushed balance).
      await page.context().routeWebSocket(/\/ws(\?|$)/, (ws) => ws.close())
      await page.reload()
      await page.locator('header[data-live="off"]').waitFor()
      await page.getByTestId('nav-create').click()
      await page.waitForURL(`${BASE}/create`)
      await page.getByTestId('prompt').waitFor()
      const shown = await headerBalance(page).innerText()
      // spend the rest of the balance behind the app's back (as another tab would)
      const spent = await page.evaluate(async () => {
        const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${localStorage.getItem('imagegen.token')}` }
        const statuses = []
        for (let i = 0; i < 6; i++) {
          const res = await fetch('/images/generate', { method: 'POST', headers, body: JSON.stringify({ prompt: `spend ${i}`, width: 256, height: 256 }) })
          statuses.push(res.status)
          if (res.status === 402) return { statuses, problem: await res.json() }
        }
        return { statuses, problem: null }
      })
      assert.ok(spent.problem, `the balance never ran out (${spent.statuses.join(', ')})`)
      const available = spent.problem.available
      assert.equal(typeof available, 'number', 'a 402 carries the available coins')
      assert.equal(await headerBalance(page).innerText(), shown, 'the app has not heard of the spending yet')
      assert.notEqual(shown, `${available} coins`)

      await page.getByTestId('prompt').fill('One more picture, please')
      await page.getByTestId('generate-submit').click()
      await page.getByTestId('error').getByText(`you have ${available}`).waitFor()
      await page.waitForFunction(
        (text) => document.querySelector('header [data-testid="coin-balance"]')?.textContent?.trim() === text,
        available === 1 ? '1 coin' : `${available} coins`,
      )
      assert.ok(await page.getByTestId('generate-submit').isDisabled(), 'no further attempt with too few coins')
      // back where the next tests expect the user
      await page.getByTestId('nav-account').click()
      await page.waitForURL(`${BASE}/account`)
    })
  })

  test('an admin grants coins to the user', { timeout: 120_000 }, async () => {
    const page = await newPage()
    shared.adminPage = page
    await step(page, 'admin', async () => {
      await signIn(page, ADMIN_EMAIL)
      const manage = page.getByTestId('nav-manage')
      await manage.waitFor({ timeout: 15_000 }).catch(() => {
        throw new Error(`${ADMIN_EMAIL} has no Manage link: is it in the stack's ADMIN_EMAILS?`)
      })
      await manage.click()
      await page.waitForURL(`${BASE}/manage`)
      await page.getByTestId('user-list').waitFor()

      // Users come newest first; page on until the e2e user is loaded.
      const row = page.locator(`[data-testid="user-row"][data-email="${USER_EMAIL}"]`)
      for (let i = 0; i < 20 && (await row.count()) === 0; i++) {
        const more = page.getByTestId('users-load-more')
        if (!(await more.count())) break
        await more.click()
        await page.waitForTimeout(300)
      }
      await row.waitFor()
      // every row's buttons have their own accessible name
      const names = await page.evaluate(() =>
        [...document.querySelectorAll('[data-testid="user-row"] button')].map((b) => b.getAttribute('aria-label') || b.textContent.trim()),
      )
      assert.ok(names.length >= 4, 'at least two rows with buttons')
      assert.equal(new Set(names).size, names.length, `button names repeat: ${names.join(' / ')}`)

      await page.getByTestId('user-search').fill(USER_EMAIL)
      await row.waitFor()

      const coins = row.getByTestId('user-coins')
      const before = Number(await coins.getAttribute('data-coins'))
      await page.getByRole('button', { name: `Grant or debit coins for ${USER_EMAIL}`, exact: true }).click()
      await row.getByTestId('coin-amount').fill(String(GRANT))
      await row.getByTestId('coin-reason').fill('End-to-end test grant')
      await row.getByTestId('coin-submit').click()
      await page.waitForFunction(
        ([email, expected]) => document.querySelector(`[data-testid="user-row"][data-email="${email}"] [data-testid="user-coins"]`)?.getAttribute('data-coins') === String(expected),
        [USER_EMAIL, before + GRANT],
      )
      shared.expectedCoins = before + GRANT
      await page.getByTestId('user-search').fill('')
      await shot(page, 'manage')
    })
  })

  test('the user sees the granted coins', { timeout: 60_000 }, async () => {
    const page = shared.userPage
    assert.ok(shared.expectedCoins !== undefined, 'grant from the previous test')
    await step(page, 'user-after-grant', async () => {
      await page.reload()
      await page.getByTestId('ledger').waitFor()
      const balance = await page.evaluate(async () => {
        const res = await fetch('/me', { headers: { Authorization: `Bearer ${localStorage.getItem('imagegen.token')}` } })
        return (await res.json()).coins
      })
      assert.equal(balance, shared.expectedCoins)
      // the grant is in the coin history (reason admin_grant)
      await page.locator('[data-testid="ledger-row"][data-reason="admin_grant"]').first().waitFor()
    })
  })

  test('every screen fits a 390 px wide phone', { timeout: 90_000 }, async () => {
    const page = shared.userPage
    const admin = shared.adminPage
    assert.ok(page && admin, 'signed-in pages from the previous tests')
    const phone = { width: 390, height: 844 }
    await step(page, 'phone-user', async () => {
      await page.setViewportSize(phone)
      await page.goto(`${BASE}/`)
      await page.getByTestId('gallery-grid').waitFor()
      const imageId = await page.getByTestId('image-card').first().getAttribute('data-image-id')
      assert.ok(imageId, 'an image to open')
      // the balance is in sight without opening the menu
      assert.ok(await headerBalance(page).isVisible(), 'the balance shows on a phone')
      assert.ok(!(await page.getByTestId('nav-create').isVisible()), 'the menu is collapsed')
      await assertFitsWidth(page, phone.width, 'Gallery')
      await shot(page, 'phone-gallery')
      const screens = [
        ['Create', '/create', 'generate-form'],
        ['Upload', '/upload', 'file-input'],
        ['Image', `/view/${encodeURIComponent(imageId)}`, 'image-detail'],
        ['Account', '/account', 'ledger'],
      ]
      for (const [label, route, testId] of screens) {
        await page.goto(`${BASE}${route}`)
        await page.getByTestId(testId).waitFor({ state: 'attached' })
        await assertFitsWidth(page, phone.width, label)
        await shot(page, `phone-${label.toLowerCase()}`)
      }
      await page.setViewportSize({ width: 1280, height: 860 })
    })
    await step(admin, 'phone-admin', async () => {
      await admin.setViewportSize(phone)
      await admin.goto(`${BASE}/manage`)
      await admin.getByTestId('user-list').waitFor()
      await assertFitsWidth(admin, phone.width, 'Admin users')
      await admin.getByTestId('adjust-coins').first().click()
      await admin.getByTestId('coin-form').waitFor()
      await assertFitsWidth(admin, phone.width, 'Admin coin form')
      await shot(admin, 'phone-manage')
      await admin.getByTestId('tab-images').click()
      await admin.getByTestId('admin-images').waitFor()
      await assertFitsWidth(admin, phone.width, 'Admin images')
    })
  })

  test('the API docs page: authorize with a token and try GET /me', { timeout: 90_000 }, async () => {
    const page = await newPage()
    const email = `docs-${USER_EMAIL}`
    await step(page, 'api-docs', async () => {
      await page.goto(`${BASE}/docs`)
      await page.locator('.swagger-ui .info .title').waitFor()
      // the page's own sign-in helper (/_local/token) hands out a session token...
      await page.locator('#token-email').fill(email)
      await page.locator('#token-get').click()
      await page.locator('#token-result').waitFor()
      const token = (await page.locator('#token-value').inputValue()).trim()
      assert.ok(token.split('.').length === 3, `a session token (JWT) is shown, got ${token.slice(0, 40)}`)

      // ...which goes into Swagger UI's Authorize dialog, as a developer would paste it
      await page.locator('.swagger-ui .auth-wrapper .btn.authorize').click()
      const dialog = page.locator('.swagger-ui .dialog-ux .modal-ux')
      await dialog.waitFor()
      await dialog.locator('input').first().fill(token)
      await dialog.getByRole('button', { name: 'Apply credentials' }).click()
      await dialog.getByRole('button', { name: 'Remove authorization' }).waitFor()
      await dialog.getByRole('button', { name: 'Close', exact: true }).click()
      await dialog.waitFor({ state: 'detached' })

      const me = page.locator('.opblock.opblock-get').filter({ has: page.locator('.opblock-summary-path[data-path="/me"]') })
      await me.locator('.opblock-summary').first().click()
      await me.locator('.try-out__btn').click()
      await me.locator('.execute').click()
      const response = me.locator('.live-responses-table .response').first()
      await response.waitFor({ timeout: 30_000 })
      assert.equal((await response.locator('.response-col_status').innerText()).trim(), '200')
      const body = await response.locator('.response-col_description pre').first().innerText()
      assert.equal(JSON.parse(body).email, email)
      await shot(page, 'api-docs')
    })
    await page.context().close()
  })

  test('with UPLOAD_METHOD=PUT the file goes by presigned PUT, and the storage refuses another type', { timeout: JOB_TIMEOUT + 90_000, skip: PUT_BASE ? false : 'E2E_PUT_BASE_URL is not set' }, async () => {
    const page = await newPage()
    const storageRequests = []
    page.on('request', (request) => {
      if (new URL(request.url()).origin !== new URL(PUT_BASE).origin && request.method() !== 'GET') {
        storageRequests.push({ method: request.method(), type: request.headers()['content-type'] })
      }
    })
    await step(page, 'upload-put', async () => {
      await signIn(page, `put-${USER_EMAIL}`, undefined, PUT_BASE)
      await page.getByTestId('nav-upload').click()
      await page.waitForURL(`${PUT_BASE}/upload`)
      await page.getByTestId('file-input').setInputFiles({ name: 'e2e-put.png', mimeType: 'image/png', buffer: gradientPng(80, 48) })
      await page.getByTestId('upload-submit').click()
      await waitForCompletion(page)
      const sent = storageRequests.filter((r) => r.method !== 'OPTIONS')
      assert.deepEqual(sent, [{ method: 'PUT', type: 'image/png' }], 'one PUT of the file to the storage')

      // The same kind of ticket, used for another type: the storage itself refuses it, readably (CORS).
      const refused = await page.evaluate(async (api) => {
        const token = localStorage.getItem('imagegen.token')
        const body = JSON.stringify({ filename: 'x.png', contentType: 'image/png', size: 4 })
        const ticket = await (await fetch(`${api}/images/uploads`, { method: 'POST', body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } })).json()
        const answer = await fetch(ticket.upload.url, { method: 'PUT', body: 'html', headers: { 'Content-Type': 'text/html' } })
        return { method: ticket.upload.method, status: answer.status, text: await answer.text() }
      }, PUT_BASE)
      assert.equal(refused.method, 'PUT')
      assert.equal(refused.status, 403)
      assert.match(refused.text, /<Code>AccessDenied<\/Code>/)
    })
    await page.context().close()
  })

  test('signing out clears the session', { timeout: 30_000 }, async () => {
    const page = shared.userPage
    await step(page, 'signout', async () => {
      await page.getByTestId('sign-out').click()
      await page.waitForURL(`${BASE}/signin`)
      assert.equal(await page.evaluate(() => localStorage.getItem('imagegen.token')), null)
      await page.goto(`${BASE}/account`)
      await page.waitForURL(`${BASE}/signin`)
    })
  })
})
