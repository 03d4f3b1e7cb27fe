import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises } from '@vue/test-utils'
import { applyUser, setToken } from '@/stores/auth'
import { setLanguage } from '@/i18n'
import ImageDetailView from '@/views/ImageDetailView.vue'
import { json, makeImage, makeUser, mockFetch, mountView } from './helpers'

const routes = [{ path: '/view-test/:id', name: 'detail-test', component: ImageDetailView, props: true }]

describe('ImageDetailView', () => {
  beforeEach(() => {
    setLanguage('en')
    setToken('tok')
    applyUser(makeUser())
  })
  afterEach(() => vi.unstubAllGlobals())

  async function open(id = 'img1') {
    const { wrapper, router } = await mountView({ template: '<RouterView />' }, `/view-test/${id}`, routes)
    await flushPromises()
    return { wrapper, router }
  }

  it('shows the preview rendition and the details', async () => {
    mockFetch({ 'GET /images/img1': () => json(200, makeImage({ metadata: { width: 800, height: 600, format: 'png', sizeBytes: 2048, previewUrl: 'http://storage.test/p.png' } })) })
    const { wrapper } = await open()
    expect(wrapper.find('[data-testid="image-detail"] img').attributes('src')).toBe('http://storage.test/p.png')
    expect(wrapper.text()).toContain('800 × 600 px')
    expect(wrapper.text()).toContain('2 KB')
    wrapper.unmount()
  })

  it('saves title and description with PATCH', async () => {
    const { calls } = mockFetch({
      'GET /images/img1': () => json(200, makeImage()),
      'PATCH /images/img1': (c) => json(200, makeImage({ ...(c.body as object) })),
    })
    const { wrapper } = await open()
    await wrapper.find('[data-testid="edit-title"]').setValue('New name')
    await wrapper.find('[data-testid="edit-description"]').setValue('About it')
    await wrapper.find('[data-testid="edit-form"]').trigger('submit')
    await flushPromises()
    expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({ title: 'New name', description: 'About it' })
    expect(wrapper.find('[data-testid="detail-title"]').text()).toBe('New name')
    wrapper.unmount()
  })

  it('deletes only after confirmation, then returns to the gallery', async () => {
    const { calls } = mockFetch({
      'GET /images/img1': () => json(200, makeImage()),
      'DELETE /images/img1': () => new Response(null, { status: 204 }),
    })
    const { wrapper, router } = await open()
    await wrapper.find('[data-testid="delete"]').trigger('click')
    await flushPromises()
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false)
    await wrapper.find('[data-testid="confirm-dialog"] form').trigger('submit')
    await flushPromises()
    expect(calls.filter((c) => c.method === 'DELETE')).toHaveLength(1)
    expect(router.currentRoute.value.name).toBe('gallery')
    wrapper.unmount()
  })

  it('downloads through the API with the bearer token', async () => {
    const { calls } = mockFetch({
      'GET /images/img1': () => json(200, makeImage()),
      'GET /images/img1/download': () => new Response(new Blob(['png-bytes'], { type: 'image/png' }), { status: 200 }),
    })
    const created: string[] = []
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: () => (created.push('blob:x'), 'blob:x'), revokeObjectURL: () => {} }))
    const clicks = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {})
    const { wrapper } = await open()
    await wrapper.find('[data-testid="download"]').trigger('click')
    await flushPromises()
    const download = calls.find((c) => c.path === '/images/img1/download')
    expect(download?.headers.authorization).toBe('Bearer tok')
    expect(created).toHaveLength(1)
    expect(clicks).toHaveBeenCalled()
    wrapper.unmount()
  })

  it('says so when the image does not exist', async () => {
    mockFetch({ 'GET /images/gone': () => json(404, { status: 404, code: 'not_found' }) })
    const { wrapper } = await open('gone')
    expect(wrapper.find('[data-testid="image-not-found"]').exists()).toBe(true)
    wrapper.unmount()
  })

  it('hides editing for an image of another user (admin view)', async () => {
    applyUser(makeUser({ id: 'admin', roles: ['USER', 'ADMIN'] }))
    mockFetch({ 'GET /images/img1': () => json(200, makeImage({ userId: 'someone' })) })
    const { wrapper } = await open()
    expect(wrapper.find('[data-testid="edit-form"]').exists()).toBe(false)
    expect(wrapper.find('[data-testid="delete"]').exists()).toBe(false)
    wrapper.unmount()
  })
})
