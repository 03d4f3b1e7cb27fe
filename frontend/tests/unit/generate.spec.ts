import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { applyUser, setToken } from '@/stores/auth'
import { setLanguage } from '@/i18n'
import GenerateView from '@/views/GenerateView.vue'
import ErrorAlert from '@/components/ErrorAlert.vue'
import { ApiError } from '@/api/client'
import { json, makeImage, makeUser, mockFetch, mountView } from './helpers'

describe('GenerateView', () => {
  beforeEach(() => {
    setLanguage('en')
    setToken('tok')
    applyUser(makeUser({ coins: 120 }))
    vi.useFakeTimers({ shouldAdvanceTime: true })
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('offers sizes 256..1024 in steps of 64 and shows the cost and balance', async () => {
    mockFetch({})
    const { wrapper } = await mountView(GenerateView, '/create')
    const widths = wrapper.findAll('[data-testid="width"] option').map((o) => Number(o.attributes('value')))
    expect(widths[0]).toBe(256)
    expect(widths[widths.length - 1]).toBe(1024)
    expect(widths).toHaveLength(13)
    expect(widths.every((w) => w % 64 === 0)).toBe(true)
    expect(wrapper.find('[data-testid="generation-cost"]').text()).toBe('This costs 50 coins.')
    expect(wrapper.text()).toContain('120 coins')
    wrapper.unmount()
  })

  it('posts the prompt and follows PENDING -> PROCESSING -> FAILED with the reason in plain words', async () => {
    const pending = makeImage({ id: 'g1', status: 'PENDING', thumbnailUrl: null })
    const answers = [{ ...pending, status: 'PROCESSING' }, { ...pending, status: 'FAILED', failureReason: 'generation_failed' }]
    const { calls } = mockFetch({
      'POST /images/generate': () => json(202, pending),
      'GET /images/g1': () => json(200, answers.shift() ?? answers[answers.length - 1]),
      'GET /me': () => json(200, makeUser({ coins: 70 })),
    })
    const { wrapper } = await mountView(GenerateView, '/create')
    await wrapper.find('[data-testid="prompt"]').setValue('  a red fox  ')
    await wrapper.find('[data-testid="width"]').setValue('512')
    await wrapper.find('[data-testid="generate-form"]').trigger('submit')
    await flushPromises()

    const post = calls.find((c) => c.method === 'POST')!
    expect(post.body).toEqual({ prompt: 'a red fox', width: 512, height: 1024 })
    expect(post.headers['idempotency-key']).toBeTruthy()
    expect(wrapper.find('[data-testid="status-tracker"]').attributes('data-status')).toBe('PENDING')

    await vi.advanceTimersByTimeAsync(1000)
    await flushPromises()
    expect(wrapper.find('[data-testid="status-tracker"]').attributes('data-status')).toBe('PROCESSING')

    await vi.advanceTimersByTimeAsync(1000)
    await flushPromises()
    expect(wrapper.find('[data-testid="status-tracker"]').attributes('data-status')).toBe('FAILED')
    expect(wrapper.find('[data-testid="failure-reason"]').text()).toContain('The image could not be generated.')
    expect(wrapper.find('[data-testid="failure-reason"]').text()).toContain('50 coins were returned')
    wrapper.unmount()
  })

  it('shows the thumbnail when the image completes', async () => {
    const pending = makeImage({ id: 'g2', status: 'PENDING', thumbnailUrl: null })
    mockFetch({
      'POST /images/generate': () => json(202, pending),
      'GET /images/g2': () => json(200, { ...pending, status: 'COMPLETED', thumbnailUrl: 'http://storage.test/t/g2.png' }),
      'GET /me': () => json(200, makeUser({ coins: 70 })),
    })
    const { wrapper } = await mountView(GenerateView, '/create')
    await wrapper.find('[data-testid="prompt"]').setValue('a boat')
    await wrapper.find('[data-testid="generate-form"]').trigger('submit')
    await flushPromises()
    await vi.advanceTimersByTimeAsync(1000)
    await flushPromises()
    expect(wrapper.find('[data-testid="result-thumbnail"] img').attributes('src')).toBe('http://storage.test/t/g2.png')
    wrapper.unmount()
  })

  it('does not send an empty prompt', async () => {
    const { calls } = mockFetch({})
    const { wrapper } = await mountView(GenerateView, '/create')
    await wrapper.find('[data-testid="generate-form"]').trigger('submit')
    await flushPromises()
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(0) // only GET /generation/options
    expect(wrapper.text()).toContain('Please describe the image you want.')
    wrapper.unmount()
  })

  it('says how many coins are missing when the API answers 402', async () => {
    mockFetch({ 'POST /images/generate': () => json(402, { status: 402, code: 'insufficient_coins', detail: 'no', required: 50, available: 10 }) })
    const { wrapper } = await mountView(GenerateView, '/create')
    await wrapper.find('[data-testid="prompt"]').setValue('a boat')
    await wrapper.find('[data-testid="generate-form"]').trigger('submit')
    await flushPromises()
    expect(wrapper.find('[data-testid="error"]').text()).toContain('this needs 50 and you have 10 (40 more needed)')
    wrapper.unmount()
  })

  it('disables the button when the balance is too low', async () => {
    applyUser(makeUser({ coins: 10 }))
    mockFetch({})
    const { wrapper } = await mountView(GenerateView, '/create')
    expect(wrapper.find('[data-testid="generate-submit"]').attributes('disabled')).toBeDefined()
    expect(wrapper.text()).toContain('You need 50 coins to create an image and you have 10.')
    wrapper.unmount()
  })
})

describe('ErrorAlert', () => {
  it('renders nothing without an error, and an alert with details otherwise', async () => {
    setLanguage('en')
    const empty = mount(ErrorAlert, { props: { error: null } })
    expect(empty.find('[role="alert"]').exists()).toBe(false)
    const err = new ApiError(422, { code: 'validation_error', errors: [{ field: 'height', message: 'too small' }] })
    const wrapper = mount(ErrorAlert, { props: { error: err } })
    expect(wrapper.find('[role="alert"]').text()).toContain('Height: too small')
    setLanguage('es')
    await flushPromises()
    expect(wrapper.find('[role="alert"]').text()).toContain('Alto: too small')
    setLanguage('en')
  })
})
