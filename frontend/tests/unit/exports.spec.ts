import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { flushPromises } from '@vue/test-utils'
import { applyUser, setToken } from '@/stores/auth'
import { setLanguage } from '@/i18n'
import type { ImageExport } from '@/api/exports'
import ExportButton from '@/components/ExportButton.vue'
import ExportView from '@/views/ExportView.vue'
import ExportsView from '@/views/ExportsView.vue'
import { configureLive, resetLive, setLiveToken } from '@/lib/live'
import { json, makeUser, mockFetch, mountView } from './helpers'

const Blank = { template: '<div />' }

function makeExport(over: Partial<ImageExport> = {}): ImageExport {
  return {
    id: 'ex1',
    status: 'PENDING',
    imageCount: 2,
    missingCount: 0,
    sizeBytes: 0,
    downloadUrl: null,
    failureReason: null,
    expiresAt: '2030-01-02T00:00:00Z',
    createdAt: '2030-01-01T00:00:00Z',
    updatedAt: '2030-01-01T00:00:00Z',
    ...over,
  }
}

const exportRoutes = [
  { path: '/export', name: 'exports', component: Blank },
  { path: '/export/:id', name: 'export', component: Blank },
]

describe('ExportButton', () => {
  beforeEach(() => {
    setLanguage('en')
    setToken('tok')
    applyUser(makeUser())
  })
  afterEach(() => vi.unstubAllGlobals())

  function host(props: { imageIds?: string[]; collectionId?: string }) {
    return defineComponent({ render: () => h(ExportButton, props) })
  }

  it('creates an export of the selected ids (once each) and opens its page', async () => {
    const { calls } = mockFetch({ 'POST /exports': () => json(202, makeExport({ id: 'new1' })) })
    const { wrapper, router } = await mountView(host({ imageIds: ['a', 'b', 'a'] }), '/', exportRoutes)
    const button = wrapper.find('[data-testid="export-button"]')
    expect(button.text()).toBe('Download 2 images as ZIP')
    await button.trigger('click')
    await flushPromises()
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ imageIds: ['a', 'b'] })
    expect(router.currentRoute.value.fullPath).toBe('/export/new1')
    wrapper.unmount()
  })

  it('exports a collection by its id', async () => {
    const { calls } = mockFetch({ 'POST /exports': () => json(202, makeExport()) })
    const { wrapper } = await mountView(host({ collectionId: 'c1' }), '/', exportRoutes)
    await wrapper.find('[data-testid="export-button"]').trigger('click')
    await flushPromises()
    expect(calls[0].body).toEqual({ collectionId: 'c1' })
    wrapper.unmount()
  })

  it('is disabled with nothing selected', async () => {
    const { calls } = mockFetch({})
    const { wrapper } = await mountView(host({ imageIds: [] }), '/', exportRoutes)
    const button = wrapper.find('[data-testid="export-button"]')
    expect(button.attributes('disabled')).toBeDefined()
    await button.trigger('click')
    expect(calls).toHaveLength(0)
    wrapper.unmount()
  })

  it('says when too many exports are under way, and stays', async () => {
    mockFetch({
      'POST /exports': () => json(429, { code: 'rate_limited', status: 429, title: 'Too many requests', detail: 'later', retryAfter: 30 }, { 'Retry-After': '30' }),
    })
    const { wrapper, router } = await mountView(host({ imageIds: ['a'] }), '/', exportRoutes)
    await wrapper.find('[data-testid="export-button"]').trigger('click')
    await flushPromises()
    expect(wrapper.find('[data-testid="error"]').text()).toContain('30 seconds')
    expect(router.currentRoute.value.fullPath).toBe('/')
    wrapper.unmount()
  })
})

describe('ExportView', () => {
  beforeEach(() => {
    setLanguage('en')
    setToken('tok')
    applyUser(makeUser())
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  const routes = [
    { path: '/export-test/:id', name: 'export-test', component: ExportView, props: (r: { params: { id: string } }) => ({ id: r.params.id, pollMs: 60 }) },
    { path: '/export', name: 'exports', component: Blank },
  ]

  it('polls until COMPLETED, then offers the download with what was left out', async () => {
    const answers = [
      makeExport({ status: 'PENDING', missingCount: 1 }),
      makeExport({ status: 'PROCESSING', missingCount: 1 }),
      makeExport({ status: 'COMPLETED', missingCount: 1, sizeBytes: 2048, downloadUrl: 'http://storage.test/x.zip' }),
    ]
    let stage = 0 // the server's state, moved on by the test
    const { calls } = mockFetch({ 'GET /exports/ex1': () => json(200, answers[stage]) })
    const { wrapper } = await mountView({ template: '<RouterView />' }, '/export-test/ex1', routes)
    await flushPromises()
    expect(wrapper.find('[data-testid="export-status"]').text()).toContain('Waiting')
    expect(wrapper.find('[data-testid="export-download"]').exists()).toBe(false)
    stage = 1
    await vi.waitFor(() => expect(wrapper.find('[data-testid="export-status"]').text()).toContain('Preparing'), { timeout: 3000 })
    stage = 2
    await vi.waitFor(() => expect(wrapper.find('[data-testid="export-download"]').exists()).toBe(true), { timeout: 3000 })
    expect(wrapper.find('[data-testid="export-status"]').text()).toBe('Ready')
    expect(wrapper.find('[data-testid="export-missing"]').text()).toBe('1')
    expect(wrapper.text()).toContain('2 KB')
    const polls = calls.length
    await new Promise((r) => setTimeout(r, 150))
    expect(calls.length).toBe(polls) // no more polling once finished
    wrapper.unmount()
  })

  it('with the live socket up, follows the export by its pushes, not by polling', async () => {
    const sockets: { onopen: ((e: Event) => void) | null; onmessage: ((e: MessageEvent) => void) | null }[] = []
    configureLive({
      createSocket: () => {
        const socket = { onopen: null, onclose: null, onerror: null, onmessage: null, readyState: 0, close() {} }
        sockets.push(socket)
        return socket
      },
      url: () => 'ws://app.test/ws',
    })
    setLiveToken('tok')
    sockets[0].onopen?.(new Event('open'))
    const { calls } = mockFetch({ 'GET /exports/ex1': () => json(200, makeExport({ status: 'PENDING' })) })
    const { wrapper } = await mountView({ template: '<RouterView />' }, '/export-test/ex1', routes)
    await flushPromises()
    const push = (exp: ImageExport) =>
      sockets[0].onmessage?.(new MessageEvent('message', { data: JSON.stringify({ type: 'export.updated', export: exp }) }))
    push(makeExport({ id: 'another', status: 'COMPLETED' }))
    push(makeExport({ status: 'COMPLETED', sizeBytes: 2048, downloadUrl: 'http://storage.test/x.zip' }))
    await flushPromises()
    expect(wrapper.find('[data-testid="export-download"]').exists()).toBe(true)
    await new Promise((r) => setTimeout(r, 200))
    expect(calls).toHaveLength(1) // the first read only: progress came by push
    wrapper.unmount()
    resetLive()
  })

  it('shows why an export failed', async () => {
    mockFetch({ 'GET /exports/ex1': () => json(200, makeExport({ status: 'FAILED', failureReason: 'no_images' })) })
    const { wrapper } = await mountView({ template: '<RouterView />' }, '/export-test/ex1', routes)
    await flushPromises()
    expect(wrapper.find('[data-testid="export-failure"]').text()).toBe('None of the images could be found any more.')
    expect(wrapper.find('[data-testid="export-download"]').exists()).toBe(false)
    wrapper.unmount()
  })

  it('shows not found for someone else’s export and stops', async () => {
    const { calls } = mockFetch({})
    const { wrapper } = await mountView({ template: '<RouterView />' }, '/export-test/theirs', routes)
    await flushPromises()
    await new Promise((r) => setTimeout(r, 150))
    expect(wrapper.find('[data-testid="error"]').exists()).toBe(true)
    expect(calls).toHaveLength(1)
    wrapper.unmount()
  })
})

describe('ExportsView', () => {
  beforeEach(() => {
    setLanguage('en')
    setToken('tok')
    applyUser(makeUser())
  })
  afterEach(() => vi.unstubAllGlobals())

  it('lists the exports with links to each', async () => {
    mockFetch({
      'GET /exports': () => json(200, { items: [makeExport({ id: 'e1', status: 'COMPLETED', sizeBytes: 1024 }), makeExport({ id: 'e2' })], nextCursor: null }),
    })
    const { wrapper } = await mountView(ExportsView, '/', exportRoutes)
    const rows = wrapper.findAll('[data-testid="export-row"]')
    expect(rows).toHaveLength(2)
    expect(rows[0].attributes('data-status')).toBe('COMPLETED')
    expect(rows[0].find('a').attributes('href')).toBe('/export/e1')
    expect(rows[1].text()).toContain('2 images')
    wrapper.unmount()
  })
})
