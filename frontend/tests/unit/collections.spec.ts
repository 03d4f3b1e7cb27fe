import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises } from '@vue/test-utils'
import { createSelection } from '@/lib/selection'
import { resetGallery } from '@/stores/gallery'
import { setToken } from '@/stores/auth'
import GalleryView from '@/views/GalleryView.vue'
import CollectionsView from '@/views/CollectionsView.vue'
import CollectionView from '@/views/CollectionView.vue'
import SharedView from '@/views/SharedView.vue'
import type { Collection } from '@/api/types'
import { json, makeImage, mockFetch, mountView } from './helpers'

const Blank = { template: '<div />' }
const collectionRoutes = [
  { path: '/my-collections', name: 'collections', component: Blank },
  { path: '/my-collections/:id', name: 'collection', component: Blank },
]

function makeCollection(over: Partial<Collection> = {}): Collection {
  return {
    id: 'c1',
    userId: 'u1',
    title: 'Trips',
    description: null,
    imageCount: 0,
    coverThumbnailUrl: null,
    shared: false,
    shareUrl: null,
    createdAt: '2024-01-01T00:00:00Z',
    updatedAt: '2024-01-01T00:00:00Z',
    ...over,
  }
}

describe('selection', () => {
  const ids = ['a', 'b', 'c', 'd', 'e']

  it('toggles one item at a time', () => {
    const s = createSelection()
    s.toggle('b', ids)
    s.toggle('d', ids)
    expect(s.inOrder(ids)).toEqual(['b', 'd'])
    s.toggle('b', ids)
    expect(s.inOrder(ids)).toEqual(['d'])
  })

  it('selects the range from the last clicked item with shift, in either direction', () => {
    const s = createSelection()
    s.toggle('b', ids)
    s.toggle('d', ids, true)
    expect(s.inOrder(ids)).toEqual(['b', 'c', 'd'])
    s.clear()
    s.toggle('e', ids)
    s.toggle('c', ids, true)
    expect(s.inOrder(ids)).toEqual(['c', 'd', 'e'])
  })

  it('shift without an anchor is a plain toggle; select all takes the page; keepOnly forgets the rest', () => {
    const s = createSelection()
    s.toggle('c', ids, true)
    expect(s.inOrder(ids)).toEqual(['c'])
    s.selectAll(ids)
    expect(s.count.value).toBe(5)
    s.keepOnly(['a', 'c'])
    expect(s.inOrder(ids)).toEqual(['a', 'c'])
  })
})

describe('gallery selection toolbar', () => {
  beforeEach(() => {
    resetGallery()
    setToken('tok')
  })
  afterEach(() => vi.unstubAllGlobals())

  const images = ['a', 'b', 'c', 'd'].map((id) => makeImage({ id, title: `Image ${id}` }))

  it('deletes the shift-selected range after confirming, with one batch call', async () => {
    const { calls } = mockFetch({
      'GET /images': () => json(200, { items: images, nextCursor: null }),
      'POST /images/batch': (c) => {
        const body = c.body as { imageIds: string[] }
        return json(200, { results: body.imageIds.map((imageId) => ({ imageId, status: 'ok' })) })
      },
      'GET /me': () => json(200, { id: 'u1', coins: 10 }),
    })
    const { wrapper } = await mountView(GalleryView)
    const boxes = wrapper.findAll('[data-testid="select-image"]')
    expect(boxes).toHaveLength(4)
    await boxes[0].trigger('click')
    await boxes[2].trigger('click', { shiftKey: true })
    expect(wrapper.find('[data-testid="selection-count"]').text()).toBe('3 selected')
    expect(boxes[1].attributes('aria-checked')).toBe('true')
    await wrapper.find('[data-testid="selection-delete"]').trigger('click')
    await flushPromises()
    await wrapper.find('[data-testid="confirm-ok"]').trigger('submit')
    await flushPromises()
    const batch = calls.find((c) => c.path === '/images/batch')
    expect(batch?.body).toEqual({ action: 'delete', imageIds: ['a', 'b', 'c'] })
    expect(wrapper.findAll('[data-testid="image-card"]').map((c) => c.attributes('data-image-id'))).toEqual(['d'])
    expect(wrapper.find('[data-testid="selection-count"]').text()).toBe('None selected')
    wrapper.unmount()
  })

  it('adds the selection to a new collection from the picker', async () => {
    const { calls } = mockFetch({
      'GET /images': () => json(200, { items: images, nextCursor: null }),
      'GET /collections': () => json(200, { items: [makeCollection()], nextCursor: null }),
      'POST /collections': () => json(201, makeCollection({ id: 'c2', title: 'New one' })),
      'POST /images/batch': () => json(200, { results: [{ imageId: 'a', status: 'ok' }, { imageId: 'b', status: 'already_present' }, { imageId: 'c', status: 'ok' }, { imageId: 'd', status: 'ok' }] }),
    })
    const { wrapper } = await mountView(GalleryView)
    await wrapper.find('[data-testid="select-all"]').trigger('click')
    expect(wrapper.find('[data-testid="selection-count"]').text()).toBe('4 selected')
    await wrapper.find('[data-testid="selection-addToCollection"]').trigger('click')
    await flushPromises()
    expect(wrapper.findAll('[data-testid="picker-option"]')).toHaveLength(1)
    await wrapper.find('[data-testid="picker-new-title"]').setValue('New one')
    await wrapper.find('[data-testid="collection-picker"] form').trigger('submit')
    await flushPromises()
    expect(calls.find((c) => c.method === 'POST' && c.path === '/collections')?.body).toEqual({ title: 'New one' })
    expect(calls.find((c) => c.path === '/images/batch')?.body).toEqual({ action: 'addToCollection', imageIds: ['a', 'b', 'c', 'd'], collectionId: 'c2' })
    expect(wrapper.find('[data-testid="selection-count"]').text()).toBe('None selected')
    wrapper.unmount()
  })
})

describe('collections screens', () => {
  beforeEach(() => setToken('tok'))
  afterEach(() => vi.unstubAllGlobals())

  it('lists, creates, renames and deletes collections', async () => {
    let items = [makeCollection({ imageCount: 2 })]
    const { calls } = mockFetch({
      'GET /collections': () => json(200, { items, nextCursor: null }),
      'POST /collections': () => json(201, makeCollection({ id: 'c2', title: 'Fresh' })),
      'PATCH /collections/c2': () => json(200, makeCollection({ id: 'c2', title: 'Renamed' })),
      'DELETE /collections/c1': () => {
        items = []
        return new Response(null, { status: 204 })
      },
    })
    const { wrapper } = await mountView(CollectionsView, '/my-collections', collectionRoutes)
    expect(wrapper.find('[data-testid="collection-count"]').text()).toBe('2 images')
    await wrapper.find('[data-testid="new-collection-title"]').setValue('Fresh')
    await wrapper.find('.collection-create').trigger('submit')
    await flushPromises()
    expect(wrapper.findAll('[data-testid="collection-row"]').map((r) => r.attributes('data-collection-id'))).toEqual(['c2', 'c1'])
    await wrapper.find('[data-testid="rename-collection"]').trigger('click')
    await wrapper.find('[data-testid="rename-input"]').setValue('Renamed')
    await wrapper.find('.collection-rename').trigger('submit')
    await flushPromises()
    expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({ title: 'Renamed' })
    expect(wrapper.find('[data-testid="collection-link"]').text()).toBe('Renamed')
    await wrapper.findAll('[data-testid="delete-collection"]')[1].trigger('click')
    await flushPromises()
    await wrapper.find('[data-testid="confirm-ok"]').trigger('submit')
    await flushPromises()
    expect(wrapper.findAll('[data-testid="collection-row"]').map((r) => r.attributes('data-collection-id'))).toEqual(['c2'])
    wrapper.unmount()
  })

  it('a collection page removes images and creates, rotates and revokes its link', async () => {
    let current = makeCollection({ imageCount: 1 })
    const { calls } = mockFetch({
      'GET /collections/c1': () => json(200, current),
      'GET /collections/c1/images': () => json(200, { items: [makeImage({ id: 'a' })], nextCursor: null }),
      'POST /images/batch': () => {
        current = { ...current, imageCount: 0 }
        return json(200, { results: [{ imageId: 'a', status: 'ok' }] })
      },
      'POST /collections/c1/share': () => {
        current = { ...current, shared: true, shareUrl: `http://app.test/s/tok${calls.length}` }
        return json(200, { shareUrl: current.shareUrl })
      },
      'DELETE /collections/c1/share': () => {
        current = { ...current, shared: false, shareUrl: null }
        return new Response(null, { status: 204 })
      },
    })
    const routes = [{ path: '/collection-test/:id', component: CollectionView, props: true }, ...collectionRoutes]
    const { wrapper } = await mountView({ template: '<RouterView />' }, '/collection-test/c1', routes)
    expect(wrapper.find('[data-testid="not-shared"]').exists()).toBe(true)
    await wrapper.find('[data-testid="create-link"]').trigger('click')
    await flushPromises()
    const first = (wrapper.find('[data-testid="share-url"]').element as HTMLInputElement).value
    expect(first).toMatch(/^http:\/\/app\.test\/s\/tok/)
    await wrapper.find('[data-testid="rotate-link"]').trigger('click')
    await flushPromises()
    expect((wrapper.find('[data-testid="share-url"]').element as HTMLInputElement).value).not.toBe(first)
    await wrapper.find('[data-testid="revoke-link"]').trigger('click')
    await flushPromises()
    expect(wrapper.find('[data-testid="share-url"]').exists()).toBe(false)
    await wrapper.find('[data-testid="remove-from-collection"]').trigger('click')
    await flushPromises()
    expect(calls.find((c) => c.path === '/images/batch')?.body).toEqual({ action: 'removeFromCollection', imageIds: ['a'], collectionId: 'c1' })
    expect(wrapper.find('[data-testid="collection-empty"]').exists()).toBe(true)
    expect(wrapper.find('[data-testid="collection-count"]').text()).toBe('No images')
    wrapper.unmount()
  })
})

const sharedRoutes = [{ path: '/s/:token', component: SharedView, props: true }]

describe('shared page', () => {
  beforeEach(() => setToken(null))
  afterEach(() => vi.unstubAllGlobals())

  it('shows a shared collection signed out, without an Authorization header', async () => {
    const { calls } = mockFetch({
      'GET /shared/abc': () =>
        json(200, {
          collection: { title: 'Holiday', description: 'Sea', imageCount: 1 },
          items: [{ id: 'i1', title: 'Waves', thumbnailUrl: 'http://cdn.test/t.webp', previewUrl: 'http://cdn.test/p.webp', width: 10, height: 10 }],
          nextCursor: null,
        }),
    })
    const { wrapper } = await mountView({ template: '<RouterView />' }, '/s/abc', sharedRoutes)
    expect(calls[0].headers.authorization).toBeUndefined()
    expect(wrapper.find('[data-testid="shared-title"]').text()).toBe('Holiday')
    expect(wrapper.find('[data-testid="shared-count"]').text()).toBe('1 image')
    expect(wrapper.findAll('[data-testid="shared-image"]')).toHaveLength(1)
    wrapper.unmount()
  })

  it('says the link does not work when it is unknown or revoked', async () => {
    mockFetch({ 'GET /shared/gone': () => json(404, { status: 404, code: 'not_found', title: 'Not found', detail: 'x' }) })
    const { wrapper } = await mountView({ template: '<RouterView />' }, '/s/gone', sharedRoutes)
    expect(wrapper.find('[data-testid="shared-missing"]').exists()).toBe(true)
    wrapper.unmount()
  })
})
