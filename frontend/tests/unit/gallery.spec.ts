import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises } from '@vue/test-utils'
import { gallery, galleryFilters, removeGalleryImage, resetGallery, upsertGalleryImage } from '@/stores/gallery'
import { createPagedList } from '@/stores/pagedList'
import GalleryView from '@/views/GalleryView.vue'
import { setToken } from '@/stores/auth'
import { json, makeImage, mockFetch, mountView } from './helpers'

const page1 = [makeImage({ id: 'a' }), makeImage({ id: 'b' })]
const page2 = [makeImage({ id: 'c', type: 'UPLOADED' })]

function pagedImages() {
  return mockFetch({
    'GET /images': (c) => {
      if (c.query.get('cursor') === 'cur-1') return json(200, { items: page2, nextCursor: null })
      return json(200, { items: page1, nextCursor: 'cur-1' })
    },
  })
}

describe('gallery store paging', () => {
  beforeEach(() => {
    resetGallery()
    setToken('tok')
  })
  afterEach(() => vi.unstubAllGlobals())

  it('loads the first page, then the next one with the cursor', async () => {
    const { calls } = pagedImages()
    await gallery.reload()
    expect(gallery.state.items.map((i) => i.id)).toEqual(['a', 'b'])
    expect(gallery.hasMore.value).toBe(true)
    expect(calls[0].query.get('cursor')).toBeNull()
    expect(calls[0].query.get('limit')).toBe('24')

    await gallery.loadMore()
    expect(calls[1].query.get('cursor')).toBe('cur-1')
    expect(gallery.state.items.map((i) => i.id)).toEqual(['a', 'b', 'c'])
    expect(gallery.hasMore.value).toBe(false)

    await gallery.loadMore() // nothing more to load
    expect(calls).toHaveLength(2)
  })

  it('sends the type and status filters and starts over when they change', async () => {
    const { calls } = pagedImages()
    await gallery.reload()
    await gallery.loadMore()
    galleryFilters.type = 'UPLOADED'
    galleryFilters.status = 'FAILED'
    await gallery.reload()
    const last = calls[calls.length - 1]
    expect(last.query.get('type')).toBe('UPLOADED')
    expect(last.query.get('status')).toBe('FAILED')
    expect(last.query.get('cursor')).toBeNull()
    expect(gallery.state.items.map((i) => i.id)).toEqual(['a', 'b'])
  })

  it('drops the answer of an outdated request', async () => {
    let release: (r: Response) => void = () => {}
    const slow = new Promise<Response>((r) => (release = r))
    let n = 0
    mockFetch({ 'GET /images': () => (n++ === 0 ? slow : json(200, { items: page2, nextCursor: null })) })
    const first = gallery.reload()
    await gallery.reload()
    release(json(200, { items: page1, nextCursor: 'cur-1' }))
    await first
    expect(gallery.state.items.map((i) => i.id)).toEqual(['c'])
    expect(gallery.state.nextCursor).toBeNull()
  })

  it('keeps the error and the loaded items when a page fails', async () => {
    let fail = false
    mockFetch({ 'GET /images': () => (fail ? json(500, { status: 500, code: 'internal' }) : json(200, { items: page1, nextCursor: 'cur-1' })) })
    await gallery.reload()
    fail = true
    await gallery.loadMore()
    expect(gallery.state.items).toHaveLength(2)
    expect(gallery.state.error).toMatchObject({ status: 500 })
    expect(gallery.state.nextCursor).toBe('cur-1')
  })

  it('updates and removes single images', async () => {
    pagedImages()
    await gallery.reload()
    upsertGalleryImage(makeImage({ id: 'a', title: 'Renamed' }))
    expect(gallery.state.items[0].title).toBe('Renamed')
    removeGalleryImage('a')
    expect(gallery.state.items.map((i) => i.id)).toEqual(['b'])
  })

  it('a generic paged list works for any endpoint', async () => {
    const fetchPage = vi.fn(async (q: { cursor?: string }) => (q.cursor ? { items: [3], nextCursor: null } : { items: [1, 2], nextCursor: 'x' }))
    const list = createPagedList<number, object>(fetchPage, () => ({}), 2)
    await list.reload()
    await list.loadMore()
    expect(list.state.items).toEqual([1, 2, 3])
    expect(fetchPage).toHaveBeenLastCalledWith({ limit: 2, cursor: 'x' })
  })
})

describe('GalleryView', () => {
  beforeEach(() => {
    resetGallery()
    setToken('tok')
  })
  afterEach(() => vi.unstubAllGlobals())

  it('shows thumbnails and loads more with the button', async () => {
    pagedImages()
    const { wrapper } = await mountView(GalleryView)
    expect(wrapper.findAll('[data-testid="image-card"]')).toHaveLength(2)
    expect(wrapper.find('[data-testid="image-card"] img').attributes('src')).toBe(page1[0].thumbnailUrl)
    const more = wrapper.find('[data-testid="load-more"]')
    expect(more.exists()).toBe(true)
    await more.trigger('click')
    await flushPromises()
    expect(wrapper.findAll('[data-testid="image-card"]')).toHaveLength(3)
    expect(wrapper.find('[data-testid="load-more"]').exists()).toBe(false)
    wrapper.unmount()
  })

  it('shows a neutral placeholder for images still being made', async () => {
    mockFetch({ 'GET /images': () => json(200, { items: [makeImage({ id: 'p', status: 'PROCESSING', thumbnailUrl: null, metadata: null })], nextCursor: null }) })
    const { wrapper } = await mountView(GalleryView)
    const card = wrapper.find('[data-testid="image-card"]')
    expect(card.find('img').exists()).toBe(false)
    expect(card.find('.placeholder').exists()).toBe(true)
    expect(card.find('[data-testid="status-badge"]').text()).toContain('Processing')
    wrapper.unmount()
  })

  it('filters by status through the select', async () => {
    const { calls } = pagedImages()
    const { wrapper } = await mountView(GalleryView)
    await wrapper.find('[data-testid="filter-status"]').setValue('COMPLETED')
    await flushPromises()
    expect(calls[calls.length - 1].query.get('status')).toBe('COMPLETED')
    wrapper.unmount()
  })

  it('shows the empty state', async () => {
    mockFetch({ 'GET /images': () => json(200, { items: [], nextCursor: null }) })
    const { wrapper } = await mountView(GalleryView)
    expect(wrapper.find('[data-testid="gallery-empty"]').text()).toContain('No images yet')
    wrapper.unmount()
  })
})
