import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises } from '@vue/test-utils'
import { applyUser, authState, setToken } from '@/stores/auth'
import { setLanguage } from '@/i18n'
import GenerateView from '@/views/GenerateView.vue'
import ImageDetailView from '@/views/ImageDetailView.vue'
import type { GenerationOptions } from '@/api/types'
import { parseSeed, prefillFromQuery, reuseQuery } from '@/lib/generationOptions'
import { SIZE_OPTIONS } from '@/config'
import { json, makeImage, makeUser, mockFetch, mountView } from './helpers'

const OPTIONS: GenerationOptions = {
  provider: 'local',
  model: 'local-painter-v2',
  styles: [
    { id: 'noir', label: 'Noir' },
    { id: 'neon', label: 'Neon' },
  ],
  sizes: [{ width: 1024, height: 1024 }],
  costs: { standard: 50, premium: 100 },
  maxPromptLength: 1000,
  maxNegativePromptLength: 1000,
  supports: { negativePrompt: true, seed: true, variations: true, premium: true, strength: true },
}

const generated = makeImage({
  id: 'img1',
  userId: 'u1',
  prompt: 'a red fox',
  coinsUsed: 100,
  metadata: { width: 512, height: 384, format: 'png' },
  generation: { provider: 'local', model: 'local-painter-v2', style: 'noir', seed: 4242, negativePrompt: 'snow', quality: 'premium', strength: null },
})

describe('Create with generation options', () => {
  beforeEach(() => {
    setLanguage('en')
    setToken('tok')
    applyUser(makeUser({ id: 'u1', coins: 120 }))
  })
  afterEach(() => vi.unstubAllGlobals())

  it('offers the styles of the configured model, a negative prompt, a seed and quality with its price', async () => {
    const { calls } = mockFetch({
      'GET /generation/options': () => json(200, OPTIONS),
      'POST /images/generate': () => json(202, makeImage({ id: 'g1', status: 'PENDING', coinsUsed: 100 })),
      'GET /images/g1': () => json(200, makeImage({ id: 'g1', status: 'PENDING' })),
      'GET /me': () => json(200, makeUser({ id: 'u1', coins: 20 })),
    })
    const { wrapper } = await mountView(GenerateView, '/create')
    expect(wrapper.findAll('[data-testid="style"] option').map((o) => o.text())).toEqual(['No style', 'Noir', 'Neon'])
    expect(wrapper.find('[data-testid="quality-standard"]').element.parentElement?.textContent).toContain('Standard · 50 coins')
    expect(wrapper.find('[data-testid="quality-premium"]').element.parentElement?.textContent).toContain('Premium · 100 coins')
    expect(wrapper.find('[data-testid="generation-cost"]').text()).toBe('This costs 50 coins.')

    await wrapper.find('[data-testid="prompt"]').setValue('a fox')
    await wrapper.find('[data-testid="style"]').setValue('neon')
    await wrapper.find('[data-testid="negative-prompt"]').setValue('  snow ')
    await wrapper.find('[data-testid="seed"]').setValue('77')
    await wrapper.find('[data-testid="quality-premium"]').setValue(true)
    expect(wrapper.find('[data-testid="generation-cost"]').text()).toBe('This costs 100 coins.')
    await wrapper.find('[data-testid="generate-form"]').trigger('submit')
    await flushPromises()
    const post = calls.find((c) => c.method === 'POST')!
    expect(post.body).toEqual({ prompt: 'a fox', width: 1024, height: 1024, style: 'neon', negativePrompt: 'snow', seed: 77, quality: 'premium' })
    wrapper.unmount()
  })

  it('refuses a seed that is not a whole number in range, without sending anything', async () => {
    const { calls } = mockFetch({ 'GET /generation/options': () => json(200, OPTIONS) })
    const { wrapper } = await mountView(GenerateView, '/create')
    await wrapper.find('[data-testid="prompt"]').setValue('a fox')
    for (const bad of ['-1', '1.5', 'abc', '2147483648']) {
      await wrapper.find('[data-testid="seed"]').setValue(bad)
      await wrapper.find('[data-testid="generate-form"]').trigger('submit')
      await flushPromises()
      expect(wrapper.find('[data-testid="seed-error"]').text()).toBe('The seed is a whole number from 0 to 2147483647.')
    }
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(0)
    wrapper.unmount()
  })

  it('disables premium when the balance only covers standard', async () => {
    applyUser(makeUser({ id: 'u1', coins: 60 }))
    mockFetch({ 'GET /generation/options': () => json(200, OPTIONS) })
    const { wrapper } = await mountView(GenerateView, '/create')
    expect(wrapper.find('[data-testid="generate-submit"]').attributes('disabled')).toBeUndefined()
    await wrapper.find('[data-testid="quality-premium"]').setValue(true)
    expect(wrapper.find('[data-testid="generate-submit"]').attributes('disabled')).toBeDefined()
    expect(wrapper.text()).toContain('You need 100 coins to create an image and you have 60.')
    wrapper.unmount()
  })

  it('hides what the model does not offer', async () => {
    mockFetch({
      'GET /generation/options': () =>
        json(200, { ...OPTIONS, provider: 'openai', styles: [], supports: { negativePrompt: false, seed: false, variations: true, premium: true, strength: false } }),
    })
    const { wrapper } = await mountView(GenerateView, '/create')
    expect(wrapper.find('[data-testid="style"]').exists()).toBe(false)
    expect(wrapper.find('[data-testid="seed"]').exists()).toBe(false)
    expect(wrapper.find('[data-testid="negative-prompt"]').exists()).toBe(false)
    expect(wrapper.find('[data-testid="quality-premium"]').exists()).toBe(true)
    wrapper.unmount()
  })

  it('is prefilled by "Reuse this seed" links', async () => {
    const { calls } = mockFetch({
      'GET /generation/options': () => json(200, OPTIONS),
      'POST /images/generate': () => json(202, makeImage({ id: 'g2', status: 'PENDING' })),
      'GET /images/g2': () => json(200, makeImage({ id: 'g2', status: 'PENDING' })),
      'GET /me': () => json(200, makeUser({ id: 'u1', coins: 20 })),
    })
    const query = new URLSearchParams(reuseQuery(generated)).toString()
    const { wrapper } = await mountView(GenerateView, `/create?${query}`)
    expect(wrapper.find('[data-testid="prefilled"]').exists()).toBe(true)
    expect((wrapper.find('[data-testid="prompt"]').element as HTMLTextAreaElement).value).toBe('a red fox')
    expect((wrapper.find('[data-testid="seed"]').element as HTMLInputElement).value).toBe('4242')
    expect((wrapper.find('[data-testid="style"]').element as HTMLSelectElement).value).toBe('noir')
    await wrapper.find('[data-testid="generate-form"]').trigger('submit')
    await flushPromises()
    expect(calls.find((c) => c.method === 'POST')!.body).toEqual({
      prompt: 'a red fox',
      width: 512,
      height: 384,
      seed: 4242,
      style: 'noir',
      negativePrompt: 'snow',
      quality: 'premium',
    })
    wrapper.unmount()
  })
})

describe('the query and seed helpers', () => {
  it('parses seeds strictly', () => {
    expect(parseSeed('')).toBeNull()
    expect(parseSeed(' 0 ')).toBe(0)
    expect(parseSeed('2147483647')).toBe(2147483647)
    expect(parseSeed('2147483648')).toBe('invalid')
    expect(parseSeed('1e3')).toBe('invalid')
  })

  it('ignores query values the form could not send', () => {
    expect(prefillFromQuery({ width: '500', height: '512', style: 'Not Ok', seed: '-3', quality: 'ultra' }, SIZE_OPTIONS)).toEqual({ height: 512 })
  })
})

describe('Image page generation options and variations', () => {
  const routes = [{ path: '/view-test/:id', name: 'detail-test', component: ImageDetailView, props: true }]

  beforeEach(() => {
    setLanguage('en')
    setToken('tok')
    applyUser(makeUser({ id: 'u1', coins: 300 }))
  })
  afterEach(() => vi.unstubAllGlobals())

  it('shows how it was generated and reuses its seed on Create', async () => {
    mockFetch({ 'GET /images/img1': () => json(200, generated), 'GET /generation/options': () => json(200, OPTIONS) })
    const { wrapper, router } = await mountView({ template: '<RouterView />' }, '/view-test/img1', routes)
    await flushPromises()
    expect(wrapper.find('[data-testid="generation-seed"]').text()).toBe('4242')
    expect(wrapper.find('[data-testid="generation-style"]').text()).toBe('Noir')
    expect(wrapper.find('[data-testid="generation-negative"]').text()).toBe('snow')
    expect(wrapper.find('[data-testid="generation-quality"]').text()).toBe('Premium')
    await wrapper.find('[data-testid="reuse-seed"]').trigger('click')
    await flushPromises()
    expect(router.currentRoute.value.name).toBe('create')
    expect(router.currentRoute.value.query).toMatchObject({ prompt: 'a red fox', seed: '4242', style: 'noir', quality: 'premium', width: '512' })
    wrapper.unmount()
  })

  it('makes a variation with the chosen strength and goes to the new image', async () => {
    const variation = makeImage({ id: 'v1', userId: 'u1', status: 'PENDING', sourceImageId: 'img1', coinsUsed: 50 })
    const { calls } = mockFetch({
      'GET /images/img1': () => json(200, generated),
      'GET /generation/options': () => json(200, OPTIONS),
      'POST /images/img1/variations': () => json(202, variation),
      'GET /images/v1': () => json(200, variation),
      'GET /me': () => json(200, makeUser({ id: 'u1', coins: 250 })),
    })
    const { wrapper, router } = await mountView({ template: '<RouterView />' }, '/view-test/img1', [
      ...routes,
      { path: '/view/:id', name: 'image', component: ImageDetailView, props: true },
    ])
    await flushPromises()
    await wrapper.find('[data-testid="make-variations"]').trigger('click')
    expect(wrapper.text()).toContain('Costs 50 coins.')
    await wrapper.find('[data-testid="variation-strength"]').setValue('0.3')
    await wrapper.find('[data-testid="variation-prompt"]').setValue('at night')
    await wrapper.find('[data-testid="variation-form"]').trigger('submit')
    await flushPromises()
    const post = calls.find((c) => c.method === 'POST')!
    expect(post.path).toBe('/images/img1/variations')
    expect(post.body).toEqual({ prompt: 'at night', strength: 0.3 })
    expect(post.headers['idempotency-key']).toBeTruthy()
    expect(router.currentRoute.value.fullPath).toBe('/view/v1')
    await flushPromises()
    expect(wrapper.find('[data-testid="source-link"]').exists()).toBe(true)
    expect(authState.user?.coins).toBe(250)
    wrapper.unmount()
  })

  it('shows a refused variation as an error and stays', async () => {
    mockFetch({
      'GET /images/img1': () => json(200, generated),
      'GET /generation/options': () => json(200, OPTIONS),
      'POST /images/img1/variations': () => json(402, { status: 402, code: 'insufficient_coins', required: 50, available: 10 }),
    })
    const { wrapper, router } = await mountView({ template: '<RouterView />' }, '/view-test/img1', routes)
    await flushPromises()
    await wrapper.find('[data-testid="make-variations"]').trigger('click')
    await wrapper.find('[data-testid="variation-form"]').trigger('submit')
    await flushPromises()
    expect(wrapper.find('[data-testid="variation-form"] [data-testid="error"]').text()).toContain('this needs 50 and you have 10')
    expect(router.currentRoute.value.fullPath).toBe('/view-test/img1')
    wrapper.unmount()
  })

  it('offers no variations for an image not completed or someone else\'s, nor when the model has none', async () => {
    mockFetch({
      'GET /images/img1': () => json(200, { ...generated, status: 'PROCESSING' }),
      'GET /generation/options': () => json(200, OPTIONS),
    })
    let view = await mountView({ template: '<RouterView />' }, '/view-test/img1', routes)
    await flushPromises()
    expect(view.wrapper.find('[data-testid="make-variations"]').exists()).toBe(false)
    view.wrapper.unmount()
    vi.unstubAllGlobals()

    mockFetch({
      'GET /images/img1': () => json(200, generated),
      'GET /generation/options': () => json(200, { ...OPTIONS, supports: { ...OPTIONS.supports, variations: false } }),
    })
    view = await mountView({ template: '<RouterView />' }, '/view-test/img1', routes)
    await flushPromises()
    expect(view.wrapper.find('[data-testid="make-variations"]').exists()).toBe(false)
    expect(view.wrapper.find('[data-testid="reuse-seed"]').exists()).toBe(true)
    view.wrapper.unmount()
  })
})
