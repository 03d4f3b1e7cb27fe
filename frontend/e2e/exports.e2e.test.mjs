// Exports in the browser: two real PNGs uploaded through the API, an export created with the app's own
// session token, its page followed until the ZIP is ready, the ZIP downloaded and opened.
//
//   E2E_BASE_URL=http://127.0.0.1:3000 node --test e2e/exports.e2e.test.mjs
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { gradientPng } from './png.mjs'
import { BASE, JOB_TIMEOUT, assertFitsWidth, newPage, signIn, startBrowser, step, stopBrowser, uniqueEmail } from './support.mjs'

/** The names of a ZIP's entries, from its central directory (no library needed). */
function zipNames(buffer) {
  const eocd = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]))
  assert.ok(eocd >= 0, 'a ZIP end-of-central-directory record')
  let count = buffer.readUInt16LE(eocd + 10)
  let offset = buffer.readUInt32LE(eocd + 16)
  const locator = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x06, 0x07]))
  if (offset === 0xffffffff && locator >= 0) {
    const zip64 = Number(buffer.readBigUInt64LE(locator + 8))
    count = Number(buffer.readBigUInt64LE(zip64 + 32))
    offset = Number(buffer.readBigUInt64LE(zip64 + 48))
  }
  const names = []
  for (let i = 0; i < count; i++) {
    assert.equal(buffer.readUInt32LE(offset), 0x02014b50, 'a central directory entry')
    const nameLength = buffer.readUInt16LE(offset + 28)
    const extraLength = buffer.readUInt16LE(offset + 30)
    const commentLength = buffer.readUInt16LE(offset + 32)
    names.push(buffer.subarray(offset + 46, offset + 46 + nameLength).toString('utf8'))
    offset += 46 + nameLength + extraLength + commentLength
  }
  return names
}

/** Upload a PNG as the browser would (presigned POST) and wait for the image to be COMPLETED. */
async function uploadViaApi(page, title, png) {
  return page.evaluate(
    async ({ title, bytes }) => {
      const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${localStorage.getItem('imagegen.token')}` }
      const data = new Uint8Array(bytes)
      const res = await fetch('/images/uploads', {
        method: 'POST',
        headers,
        body: JSON.stringify({ filename: `${title}.png`, contentType: 'image/png', size: data.length, title }),
      })
      if (res.status !== 201) throw new Error(`upload request: ${res.status} ${await res.text()}`)
      const { image, upload } = await res.json()
      const form = new FormData()
      for (const [k, v] of Object.entries(upload.fields)) form.append(k, v)
      form.append('file', new Blob([data], { type: 'image/png' }), `${title}.png`)
      const posted = await fetch(upload.url, { method: 'POST', body: form })
      if (!posted.ok) throw new Error(`storage POST: ${posted.status}`)
      for (let i = 0; i < 300; i++) {
        const current = await (await fetch(`/images/${image.id}`, { headers })).json()
        if (current.status === 'COMPLETED') return current.id
        if (current.status === 'FAILED') throw new Error(`image failed: ${current.failureReason}`)
        await new Promise((r) => setTimeout(r, 300))
      }
      throw new Error('image never completed')
    },
    { title, bytes: [...png] },
  )
}

describe('exports', { concurrency: false }, () => {
  before(startBrowser)
  after(stopBrowser)

  test('an export of two images is prepared, shown and downloaded as one ZIP', { timeout: JOB_TIMEOUT + 60_000 }, async () => {
    const page = await newPage()
    let exportId
    await step(page, 'exports-setup', async () => {
      await signIn(page, uniqueEmail('exports'))
      const first = await uploadViaApi(page, 'Red dawn', gradientPng(96, 64))
      const second = await uploadViaApi(page, 'Blue hour', gradientPng(64, 96))
      const created = await page.evaluate(async (ids) => {
        const res = await fetch('/exports', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${localStorage.getItem('imagegen.token')}` },
          body: JSON.stringify({ imageIds: ids }),
        })
        return { status: res.status, body: await res.json() }
      }, [first, second])
      assert.equal(created.status, 202, JSON.stringify(created.body))
      assert.equal(created.body.imageCount, 2)
      exportId = created.body.id
    })

    await step(page, 'exports-page', async () => {
      await page.goto(`${BASE}/export/${exportId}`)
      await page.getByTestId('export').waitFor()
      await page.getByTestId('export-download').waitFor({ timeout: JOB_TIMEOUT })
      assert.equal(await page.getByTestId('export').getAttribute('data-status'), 'COMPLETED')
      assert.equal(await page.getByTestId('export-count').innerText(), '2')
    })

    await step(page, 'exports-download', async () => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-download').click()])
      assert.match(download.suggestedFilename(), /^images-.*\.zip$/)
      const file = await download.path()
      const names = zipNames(fs.readFileSync(file))
      assert.deepEqual(names, ['Red dawn.png', 'Blue hour.png'])
    })

    await step(page, 'exports-list', async () => {
      await page.goto(`${BASE}/export`)
      const row = page.getByTestId('export-row').first()
      await row.waitFor()
      assert.equal(await row.getAttribute('data-status'), 'COMPLETED')
      await row.locator('a').click()
      await page.waitForURL(`${BASE}/export/${exportId}`)
      await page.getByTestId('export-download').waitFor()
    })

    await step(page, 'exports-phone', async () => {
      await page.setViewportSize({ width: 390, height: 844 })
      await page.goto(`${BASE}/export/${exportId}`)
      await page.getByTestId('export-download').waitFor()
      await assertFitsWidth(page, 390, 'export page')
      await page.goto(`${BASE}/export`)
      await page.getByTestId('export-row').first().waitFor()
      await assertFitsWidth(page, 390, 'downloads list')
    })
    await page.context().close()
  })
})
