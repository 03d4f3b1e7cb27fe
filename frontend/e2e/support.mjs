// Shared helpers of the browser tests: the stacks' addresses, one headless Chromium per test file,
// pages, sign-in through the Google stand-in, and the checks several files use.
// Each feature's tests live in their own e2e/<feature>.e2e.test.mjs; `npm run e2e` runs them all.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = path.dirname(fileURLToPath(import.meta.url))
export const BASE = (process.env.E2E_BASE_URL || 'http://127.0.0.1:3000').replace(/\/+$/, '')
// A second stack started with UPLOAD_METHOD=PUT (scripts/e2e.sh starts one): uploads by presigned PUT.
export const PUT_BASE = (process.env.E2E_PUT_BASE_URL || '').replace(/\/+$/, '')
export const ADMIN_EMAIL = process.env.E2E_ADMIN_EMAIL || 'admin@example.com'
export const USER_EMAIL = process.env.E2E_USER_EMAIL || `e2e-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}@example.com`
const CHROMIUM = process.env.E2E_CHROMIUM || process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const SCREENSHOTS = process.env.E2E_SCREENSHOTS === '1'
const SCREENSHOT_DIR = path.resolve(process.env.E2E_SCREENSHOTS_DIR || path.join(here, '..', '..', 'docs', 'screenshots'))
const ARTIFACTS = path.join(here, '.artifacts')
export const JOB_TIMEOUT = Number(process.env.E2E_JOB_TIMEOUT_MS || 180_000)
const HEADED = process.env.E2E_HEADED === '1'


let browser
let userDir

export async function shot(page, name) {
  if (!SCREENSHOTS) return
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true })
  // no toast over the page, and images faded in
  await page.evaluate(() => document.querySelectorAll('[data-testid="toast"]').forEach((el) => el.remove()))
  await page.waitForTimeout(400)
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true })
}

async function failureShot(page, name) {
  try {
    fs.mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-failure.png`), fullPage: true })
  } catch {
    /* best effort */
  }
}

export async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US', acceptDownloads: true })
  context.setDefaultTimeout(20_000)
  const page = await context.newPage()
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() === 'error') console.error(`[console] ${msg.text()}`)
  })
  return page
}

/** Run a step; on failure keep a screenshot in e2e/.artifacts/. */
export async function step(page, name, fn) {
  try {
    await fn()
  } catch (err) {
    await failureShot(page, name)
    throw err
  }
}

/**
 * Sign in through the app's Google button and the stack's Google stand-in.
 * Without login_hint the stand-in shows a small form with an email input:
 * fill it and submit. If the stand-in redirects straight back, that works too.
 */
export async function signIn(page, email, screenshotName, base = BASE) {
  await page.goto(`${base}/signin`)
  const button = page.getByTestId('google-signin')
  await button.waitFor()
  if (screenshotName) await shot(page, screenshotName)
  await button.click()

  const emailInput = page
    .locator('input[type="email"], input[name="email"], input[name="login_hint"], form input[type="text"], form input:not([type])')
    .first()
  const landed = page.getByTestId('nav-gallery')
  const first = await Promise.race([
    emailInput.waitFor({ timeout: 30_000 }).then(() => 'form'),
    landed.waitFor({ timeout: 30_000 }).then(() => 'app'),
  ])
  if (first === 'form') {
    await emailInput.fill(email)
    const submit = page.locator('button[type="submit"], input[type="submit"], form button').first()
    if (await submit.count()) await submit.click()
    else await emailInput.press('Enter')
  }
  await page.waitForURL((url) => url.origin === new URL(base).origin && url.pathname === '/', { timeout: 30_000 })
  await landed.waitFor()
  assert.ok(!page.url().includes('token='), 'the session token must be removed from the address bar')
  const token = await page.evaluate(() => localStorage.getItem('imagegen.token'))
  assert.ok(token, 'a session token is stored after sign-in')
}

/** The page is no wider than the window: nothing sticks out sideways. */
export async function assertFitsWidth(page, width, label) {
  await page.waitForTimeout(300)
  const found = await page.evaluate(() => {
    const w = document.documentElement.clientWidth
    const offenders = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > w + 0.5 && el.getBoundingClientRect().width > 0)
      .slice(0, 3)
      .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`)
    return { scrollWidth: document.documentElement.scrollWidth, offenders }
  })
  assert.ok(found.scrollWidth <= width, `${label}: the page is ${found.scrollWidth} px wide at ${width} px (${found.offenders.join(', ')})`)
}

/** The balance badge in the header (not the ones on the create or account screens). */
export const headerBalance = (page) => page.locator('header [data-testid="coin-balance"]')

/** Wait until the status tracker shows COMPLETED, failing fast on FAILED. */
export async function waitForCompletion(page) {
  const tracker = page.getByTestId('status-tracker')
  await tracker.waitFor()
  const handle = await page.waitForFunction(
    () => {
      const el = document.querySelector('[data-testid="status-tracker"]')
      const status = el?.getAttribute('data-status')
      return status === 'COMPLETED' || status === 'FAILED' ? status : null
    },
    undefined,
    { timeout: JOB_TIMEOUT, polling: 500 },
  )
  const status = await handle.jsonValue()
  if (status === 'FAILED') {
    const reason = await page.getByTestId('failure-reason').innerText().catch(() => '(no reason shown)')
    assert.fail(`the image ended FAILED: ${reason}`)
  }
  // the thumbnail really loads
  await page.waitForFunction(
    () => {
      const img = document.querySelector('[data-testid="result-thumbnail"] img')
      return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0
    },
    undefined,
    { timeout: 30_000 },
  )
}

/** A unique email for a test's own user. */
export function uniqueEmail(label) {
  return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}@example.com`
}

/** Check the stack serves the API and the built app, and launch Chromium (call from before()). */
export async function startBrowser() {
  let health
  try {
    health = await fetch(`${BASE}/health`)
  } catch (err) {
    throw new Error(`No stack at ${BASE} (${err.message}). Start the local stack, or set E2E_BASE_URL.`)
  }
  assert.equal(health.status, 200, `GET ${BASE}/health answered ${health.status}`)
  const shell = await fetch(`${BASE}/signin`, { headers: { accept: 'text/html' } })
  const html = await shell.text()
  assert.ok(html.includes('id="app"'), `${BASE}/signin does not serve the web app: build it (npm run build) and serve frontend/dist from the stack`)
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set E2E_CHROMIUM)`)

  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-chromium-'))
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: !HEADED,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--disk-cache-dir=${path.join(userDir, 'cache')}`,
    ],
  })
}

/** Close Chromium (call from after()). */
export async function stopBrowser() {
  await browser?.close()
  if (userDir) fs.rmSync(userDir, { recursive: true, force: true })
}
