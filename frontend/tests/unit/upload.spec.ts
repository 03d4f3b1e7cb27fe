import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises } from '@vue/test-utils'
import { contentTypeOf, presignedFormData, putHeaders, sendToStorage, StorageUploadError, validateUpload } from '@/lib/upload'
import type { PresignedPut } from '@/api/types'
import { MAX_UPLOAD_BYTES } from '@/config'
import { setLanguage } from '@/i18n'
import { setToken } from '@/stores/auth'
import UploadView from '@/views/UploadView.vue'
import { json, makeImage, mockFetch, mountView } from './helpers'

const MiB = 1024 * 1024

describe('upload validation', () => {
  it('accepts jpeg, png, webp and gif up to the limit', () => {
    expect(MAX_UPLOAD_BYTES).toBe(10 * MiB)
    for (const type of ['image/jpeg', 'image/png', 'image/webp', 'image/gif']) {
      expect(validateUpload({ name: 'x', type, size: 1000 })).toBeNull()
    }
    expect(validateUpload({ name: 'x.png', type: 'image/png', size: 10 * MiB })).toBeNull()
  })

  it('refuses other types', () => {
    expect(validateUpload({ name: 'a.svg', type: 'image/svg+xml', size: 10 })).toEqual({ kind: 'type', type: 'image/svg+xml' })
    expect(validateUpload({ name: 'a.pdf', type: 'application/pdf', size: 10 })).toMatchObject({ kind: 'type' })
    expect(validateUpload({ name: 'noext', type: '', size: 10 })).toMatchObject({ kind: 'type' })
  })

  it('refuses files over the limit and empty files', () => {
    expect(validateUpload({ name: 'big.jpg', type: 'image/jpeg', size: 10 * MiB + 1 })).toEqual({ kind: 'size', size: 10 * MiB + 1, max: 10 * MiB })
    expect(validateUpload({ name: 'small.jpg', type: 'image/jpeg', size: 2000 }, 1000)).toMatchObject({ kind: 'size' })
    expect(validateUpload({ name: 'e.png', type: 'image/png', size: 0 })).toEqual({ kind: 'empty' })
  })

  it('guesses the type from the extension when the browser gives none', () => {
    expect(contentTypeOf({ name: 'Photo.JPG', type: '' })).toBe('image/jpeg')
    expect(contentTypeOf({ name: 'a.webp', type: '' })).toBe('image/webp')
    expect(validateUpload({ name: 'anim.gif', type: '', size: 5 })).toBeNull()
  })
})

describe('presigned POST', () => {
  const upload = { url: 'http://storage.test/bucket', fields: { key: 'images/u1/1-a.png', policy: 'p', 'x-amz-signature': 's', 'Content-Type': 'image/png' }, expiresAt: '' }

  it('puts every policy field first and the file last, named "file"', () => {
    const form = presignedFormData(upload, new Blob(['x'], { type: 'image/png' }), 'a.png')
    const names = [...form.keys()]
    expect(names).toEqual(['key', 'policy', 'x-amz-signature', 'Content-Type', 'file'])
    expect(form.get('key')).toBe('images/u1/1-a.png')
  })

  class FakeXhr {
    static last: FakeXhr
    status = 0
    method = ''
    url = ''
    body: FormData | Blob | null = null
    headers: [string, string][] = []
    listeners: Record<string, ((e?: unknown) => void)[]> = {}
    uploadListeners: Record<string, ((e: unknown) => void)[]> = {}
    upload = { addEventListener: (t: string, f: (e: unknown) => void) => (this.uploadListeners[t] ??= []).push(f) }
    constructor() {
      FakeXhr.last = this
    }
    addEventListener(t: string, f: () => void) {
      ;(this.listeners[t] ??= []).push(f)
    }
    open(method: string, url: string) {
      this.method = method
      this.url = url
    }
    setRequestHeader(name: string, value: string) {
      this.headers.push([name, value])
    }
    send(body: FormData | Blob) {
      this.body = body
    }
    abort() {
      this.listeners.abort?.forEach((f) => f())
    }
    progress(loaded: number, total: number) {
      this.uploadListeners.progress?.forEach((f) => f({ lengthComputable: true, loaded, total }))
    }
    finish(status: number) {
      this.status = status
      this.listeners.load?.forEach((f) => f())
    }
    fail() {
      this.listeners.error?.forEach((f) => f())
    }
  }

  it('reports progress and resolves on 2xx', async () => {
    const progress: number[] = []
    const file = new File(['hello'], 'a.png', { type: 'image/png' })
    const handle = sendToStorage(upload, file, (f) => progress.push(f), () => new FakeXhr() as unknown as XMLHttpRequest)
    const xhr = FakeXhr.last
    expect(xhr.method).toBe('POST')
    expect(xhr.url).toBe(upload.url)
    expect([...(xhr.body as FormData).keys()].pop()).toBe('file')
    xhr.progress(2, 5)
    xhr.progress(5, 5)
    xhr.finish(204)
    await expect(handle.done).resolves.toBeUndefined()
    expect(progress).toEqual([0.4, 1, 1])
  })

  it('rejects on a storage error status or a network error', async () => {
    const file = new File(['hello'], 'a.png', { type: 'image/png' })
    const h1 = sendToStorage(upload, file, () => {}, () => new FakeXhr() as unknown as XMLHttpRequest)
    FakeXhr.last.finish(403)
    await expect(h1.done).rejects.toMatchObject({ name: 'StorageUploadError', status: 403 })
    const h2 = sendToStorage(upload, file, () => {}, () => new FakeXhr() as unknown as XMLHttpRequest)
    FakeXhr.last.fail()
    await expect(h2.done).rejects.toBeInstanceOf(StorageUploadError)
  })

  describe('when the API says PUT (UPLOAD_METHOD=PUT, Cloudflare R2)', () => {
    const put: PresignedPut = {
      method: 'PUT',
      url: 'http://storage.test/bucket/images/u1/1-a.png?X-Amz-Signature=s',
      headers: { 'Content-Type': 'image/png', 'Content-Length': '5' },
      expiresAt: '',
    }

    it('PUTs the file itself with the signed Content-Type, leaving Content-Length to the browser', async () => {
      const progress: number[] = []
      const file = new File(['hello'], 'a.png', { type: 'image/png' })
      const handle = sendToStorage(put, file, (f) => progress.push(f), () => new FakeXhr() as unknown as XMLHttpRequest)
      const xhr = FakeXhr.last
      expect(xhr.method).toBe('PUT')
      expect(xhr.url).toBe(put.url)
      expect(xhr.body).toBe(file) // the bytes themselves, not a form
      expect(xhr.headers).toEqual([['Content-Type', 'image/png']])
      xhr.progress(5, 5)
      xhr.finish(200)
      await expect(handle.done).resolves.toBeUndefined()
      expect(progress).toEqual([1, 1])
    })

    it('never sets a header the browser forbids, whatever its case', () => {
      expect(putHeaders({ ...put, headers: { 'content-length': '5', Host: 'x', 'Content-Type': 'image/gif' } })).toEqual([['Content-Type', 'image/gif']])
    })

    it('rejects with the status the storage refused with', async () => {
      const file = new File(['hello'], 'a.png', { type: 'image/png' })
      const handle = sendToStorage(put, file, () => {}, () => new FakeXhr() as unknown as XMLHttpRequest)
      FakeXhr.last.finish(403)
      await expect(handle.done).rejects.toMatchObject({ name: 'StorageUploadError', status: 403 })
    })
  })
})

describe('UploadView', () => {
  beforeEach(() => {
    setLanguage('en')
    setToken('tok')
  })
  afterEach(() => vi.unstubAllGlobals())

  async function pick(wrapper: Awaited<ReturnType<typeof mountView>>['wrapper'], file: File) {
    const input = wrapper.find('[data-testid="file-input"]')
    Object.defineProperty(input.element, 'files', { value: [file], configurable: true })
    await input.trigger('change')
    await flushPromises()
  }

  it('explains a wrong type before sending anything', async () => {
    const { calls } = mockFetch({})
    const { wrapper } = await mountView(UploadView, '/upload')
    await pick(wrapper, new File(['%PDF'], 'doc.pdf', { type: 'application/pdf' }))
    expect(wrapper.find('[data-testid="upload-problem"]').text()).toContain("This file type can't be uploaded")
    expect(wrapper.find('[data-testid="upload-submit"]').attributes('disabled')).toBeDefined()
    expect(calls).toHaveLength(0)
    wrapper.unmount()
  })

  it('explains a file that is too large', async () => {
    mockFetch({})
    const { wrapper } = await mountView(UploadView, '/upload')
    const big = new File(['x'], 'huge.png', { type: 'image/png' })
    Object.defineProperty(big, 'size', { value: 11 * MiB })
    await pick(wrapper, big)
    expect(wrapper.find('[data-testid="upload-problem"]').text()).toBe('This file is 11 MB; the largest allowed is 10 MB.')
    wrapper.unmount()
  })

  it('asks the API for an upload ticket with the file facts', async () => {
    const { calls } = mockFetch({
      'POST /images/uploads': () => json(422, { status: 422, code: 'validation_error', errors: [{ field: 'contentType', message: 'not allowed' }] }),
    })
    const { wrapper } = await mountView(UploadView, '/upload')
    await pick(wrapper, new File(['abc'], 'cat.png', { type: 'image/png' }))
    await wrapper.find('[data-testid="upload-form"]').trigger('submit')
    await flushPromises()
    expect(calls[0].body).toEqual({ filename: 'cat.png', contentType: 'image/png', size: 3, title: 'cat' })
    expect(wrapper.find('[data-testid="error"]').text()).toContain('File type: not allowed')
    wrapper.unmount()
  })

  it('uploads to the presigned URL, then follows the image status', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true })
    const image = makeImage({ id: 'up1', type: 'UPLOADED', status: 'PENDING', thumbnailUrl: null })
    let polls = 0
    mockFetch({
      'POST /images/uploads': () => json(201, { image, upload: { url: 'http://storage.test/b', fields: { key: 'k' }, expiresAt: '' } }),
      'GET /images/up1': () => json(200, ++polls < 2 ? { ...image, status: 'PROCESSING' } : { ...image, status: 'COMPLETED', thumbnailUrl: 'http://storage.test/t.png' }),
      'GET /me': () => json(200, { id: 'u1', coins: 100, roles: ['USER'], language: 'en' }),
    })
    const sent: FormData[] = []
    class OkXhr {
      status = 204
      upload = { addEventListener: () => {} }
      private load?: () => void
      addEventListener(t: string, f: () => void) {
        if (t === 'load') this.load = f
      }
      open() {}
      send(body: FormData) {
        sent.push(body)
        setTimeout(() => this.load?.(), 0)
      }
      abort() {}
    }
    vi.stubGlobal('XMLHttpRequest', OkXhr)
    const { wrapper } = await mountView(UploadView, '/upload')
    await pick(wrapper, new File(['abc'], 'cat.png', { type: 'image/png' }))
    await wrapper.find('[data-testid="upload-form"]').trigger('submit')
    await flushPromises()
    await vi.advanceTimersByTimeAsync(10)
    await flushPromises()
    expect(sent).toHaveLength(1)
    expect([...sent[0].keys()]).toEqual(['key', 'file'])
    await vi.advanceTimersByTimeAsync(2500)
    await flushPromises()
    expect(wrapper.find('[data-testid="status-tracker"]').attributes('data-status')).toBe('COMPLETED')
    vi.useRealTimers()
    wrapper.unmount()
  })

  it('uploads by PUT when the API says so, and never falls back to a POST', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true })
    const image = makeImage({ id: 'up3', type: 'UPLOADED', status: 'PENDING', thumbnailUrl: null })
    const upload = { method: 'PUT', url: 'http://storage.test/b/k?X-Amz-Signature=s', headers: { 'Content-Type': 'image/png', 'Content-Length': '3' }, expiresAt: '' }
    const { calls } = mockFetch({
      'POST /images/uploads': () => json(201, { image, upload }),
      'GET /images/up3': () => json(200, { ...image, status: 'COMPLETED', thumbnailUrl: 'http://storage.test/t.png' }),
      'GET /me': () => json(200, { id: 'u1', coins: 100, roles: ['USER'], language: 'en' }),
    })
    const sent: { method: string; url: string; headers: [string, string][]; body: unknown }[] = []
    class PutXhr {
      status = 200
      upload = { addEventListener: () => {} }
      private request = { method: '', url: '', headers: [] as [string, string][], body: null as unknown }
      private load?: () => void
      addEventListener(t: string, f: () => void) {
        if (t === 'load') this.load = f
      }
      open(method: string, url: string) {
        Object.assign(this.request, { method, url })
      }
      setRequestHeader(name: string, value: string) {
        this.request.headers.push([name, value])
      }
      send(body: unknown) {
        sent.push({ ...this.request, body })
        setTimeout(() => this.load?.(), 0)
      }
      abort() {}
    }
    vi.stubGlobal('XMLHttpRequest', PutXhr)
    const { wrapper } = await mountView(UploadView, '/upload')
    const file = new File(['abc'], 'cat.png', { type: 'image/png' })
    await pick(wrapper, file)
    await wrapper.find('[data-testid="upload-form"]').trigger('submit')
    await flushPromises()
    await vi.advanceTimersByTimeAsync(10)
    await flushPromises()
    expect(sent).toEqual([{ method: 'PUT', url: upload.url, headers: [['Content-Type', 'image/png']], body: file }])
    await vi.advanceTimersByTimeAsync(2500)
    await flushPromises()
    expect(wrapper.find('[data-testid="status-tracker"]').attributes('data-status')).toBe('COMPLETED')
    expect(calls.filter((c) => c.path === '/b' || c.path === '/b/k')).toEqual([])
    vi.useRealTimers()
    wrapper.unmount()
  })

  it('falls back to a simple POST when the storage refuses the CORS preflight', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true })
    const image = makeImage({ id: 'up2', type: 'UPLOADED', status: 'PENDING', thumbnailUrl: null })
    let landed = false
    const { calls } = mockFetch({
      'POST /images/uploads': () => json(201, { image, upload: { url: 'http://storage.test/b', fields: { key: 'k' }, expiresAt: '' } }),
      'POST /b': () => {
        landed = true
        return new Response(null, { status: 204 })
      },
      'GET /images/up2': () => json(200, landed ? { ...image, status: 'COMPLETED', thumbnailUrl: 'http://storage.test/t.png' } : image),
      'GET /me': () => json(200, { id: 'u1', coins: 100, roles: ['USER'], language: 'en' }),
    })
    class RefusedXhr {
      upload = { addEventListener: () => {} }
      private onError?: () => void
      addEventListener(t: string, f: () => void) {
        if (t === 'error') this.onError = f
      }
      open() {}
      send() {
        setTimeout(() => this.onError?.(), 0)
      }
      abort() {}
    }
    vi.stubGlobal('XMLHttpRequest', RefusedXhr)
    const { wrapper } = await mountView(UploadView, '/upload')
    await pick(wrapper, new File(['abc'], 'cat.png', { type: 'image/png' }))
    await wrapper.find('[data-testid="upload-form"]').trigger('submit')
    await flushPromises()
    await vi.advanceTimersByTimeAsync(10)
    await flushPromises()
    const storagePost = calls.find((c) => c.path === '/b')
    expect(storagePost?.method).toBe('POST')
    await vi.advanceTimersByTimeAsync(2600)
    await flushPromises()
    expect(wrapper.find('[data-testid="status-tracker"]').attributes('data-status')).toBe('COMPLETED')
    vi.useRealTimers()
    wrapper.unmount()
  })
})
