import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises } from '@vue/test-utils'
import type { Purchase } from '@/api/types'
import { setLanguage } from '@/i18n'
import { formatMoney } from '@/lib/money'
import { waitForPurchase } from '@/lib/purchasePoll'
import { applyUser, authState, clearSession, setToken } from '@/stores/auth'
import AccountView from '@/views/AccountView.vue'
import AdminView from '@/views/AdminView.vue'
import BuyCoinsView from '@/views/BuyCoinsView.vue'
import ShopCancelView from '@/views/ShopCancelView.vue'
import ShopSuccessView from '@/views/ShopSuccessView.vue'
import { json, makeUser, mockFetch, mountView } from './helpers'

vi.mock('@/lib/navigate', () => ({ leaveTo: vi.fn() }))

const PACKS = [
  { id: 'small', coins: 500, priceCents: 499, currency: 'usd', label: '500 coins' },
  { id: 'large', coins: 3000, priceCents: 1999, currency: 'eur', label: '3,000 coins' },
]

function makePurchase(over: Partial<Purchase> = {}): Purchase {
  return {
    id: 'p1',
    userId: 'u1',
    packId: 'small',
    coins: 500,
    amountCents: 499,
    currency: 'usd',
    status: 'PENDING',
    failureReason: null,
    checkoutSessionId: 'cs_1',
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    paidAt: null,
    ...over,
  }
}

const shopRoutes = [
  { path: '/buy', name: 'buy', component: BuyCoinsView },
  { path: '/shop/success', name: 'shop-success', component: ShopSuccessView },
  { path: '/shop/cancel', name: 'shop-cancel', component: ShopCancelView },
]

describe('the coin shop', () => {
  beforeEach(() => {
    localStorage.clear()
    clearSession()
    setLanguage('en')
    setToken('tok')
    applyUser(makeUser({ id: 'u1', coins: 20 }))
  })
  afterEach(() => {
    vi.unstubAllGlobals()
    vi.useRealTimers()
  })

  it('lists the packs with their prices and leaves for Stripe Checkout on Buy', async () => {
    const { leaveTo } = await import('@/lib/navigate')
    const { calls } = mockFetch({
      'GET /shop/packs': () => json(200, { items: PACKS }),
      'POST /shop/checkout': () => json(201, { purchase: makePurchase(), checkoutUrl: 'https://checkout.test/cs_1' }),
    })
    const { wrapper } = await mountView(BuyCoinsView, '/buy', shopRoutes)
    const packs = wrapper.findAll('[data-testid="pack"]')
    expect(packs.map((p) => p.attributes('data-pack'))).toEqual(['small', 'large'])
    expect(packs[0].text()).toContain('$4.99')
    expect(packs[1].text()).toContain('€19.99')
    await wrapper.find('[data-testid="buy-small"]').trigger('click')
    await flushPromises()
    const post = calls.find((c) => c.method === 'POST')!
    expect(post.body).toEqual({ packId: 'small' })
    expect(post.headers['idempotency-key']).toBeTruthy()
    expect(leaveTo).toHaveBeenCalledWith('https://checkout.test/cs_1')
  })

  it('shows a failed checkout and lets the user try again', async () => {
    mockFetch({
      'GET /shop/packs': () => json(200, { items: PACKS }),
      'POST /shop/checkout': () => json(503, { status: 503, code: 'service_unavailable', title: 'x', detail: 'Payments are temporarily unavailable; try again.' }),
    })
    const { wrapper } = await mountView(BuyCoinsView, '/buy', shopRoutes)
    await wrapper.find('[data-testid="buy-large"]').trigger('click')
    await flushPromises()
    expect(wrapper.find('[role="alert"]').exists()).toBe(true)
    expect(wrapper.find('[data-testid="buy-large"]').attributes('disabled')).toBeUndefined()
  })

  it('waits on the success page until the purchase is paid, then shows the new balance', async () => {
    let polls = 0
    mockFetch({
      'GET /me/purchases/p1': () => json(200, makePurchase(++polls < 3 ? {} : { status: 'PAID', paidAt: '2026-01-01T00:01:00Z' })),
      'GET /me': () => json(200, makeUser({ id: 'u1', coins: 520 })),
    })
    vi.useFakeTimers()
    const { wrapper } = await mountView(ShopSuccessView, '/shop/success?purchase=p1', shopRoutes)
    expect(wrapper.find('[data-testid="purchase-result"]').attributes('data-status')).toBe('PENDING')
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(1000)
      await flushPromises()
    }
    expect(polls).toBe(3)
    expect(wrapper.find('[data-testid="purchase-paid"]').text()).toContain('500 coins were added')
    expect(authState.user?.coins).toBe(520)
    expect(wrapper.text()).toContain('520 coins')
  })

  it('tells a failed, expired or refunded purchase apart', async () => {
    for (const status of ['FAILED', 'EXPIRED', 'REVERSED'] as const) {
      mockFetch({ 'GET /me/purchases/p1': () => json(200, makePurchase({ status })), 'GET /me': () => json(200, makeUser({ coins: 20 })) })
      const { wrapper } = await mountView(ShopSuccessView, '/shop/success?purchase=p1', shopRoutes)
      expect(wrapper.find('[data-testid="purchase-result"]').attributes('data-status')).toBe(status)
      expect(wrapper.find('[data-testid="purchase-paid"]').exists()).toBe(false)
      wrapper.unmount()
    }
  })

  it('polls through temporary errors and stops on a 404', async () => {
    const seen: string[] = []
    let n = 0
    const getPurchase = vi.fn(async () => {
      n += 1
      if (n === 1) throw new TypeError('network down')
      return makePurchase({ status: n < 3 ? 'PENDING' : 'PAID' })
    })
    const last = await waitForPurchase('p1', (p) => seen.push(p.status), { getPurchase, delay: () => 0 })
    expect(last?.status).toBe('PAID')
    expect(seen).toEqual(['PENDING', 'PAID'])
    mockFetch({ 'GET /me/purchases/nope': () => json(404, { status: 404, code: 'not_found', title: 'x', detail: 'No such purchase.' }) })
    await expect(waitForPurchase('nope', () => {}, { delay: () => 0 })).rejects.toMatchObject({ status: 404 })
  })

  it('the cancel page says nothing was charged', async () => {
    mockFetch({})
    const { wrapper } = await mountView(ShopCancelView, '/shop/cancel', shopRoutes)
    expect(wrapper.find('[data-testid="shop-cancelled"]').text()).toContain('No payment was taken')
  })

  it('lists the purchase history on the account page and the purchase ledger reasons', async () => {
    mockFetch({
      'GET /me/stats': () => json(200, { totalImages: 0, generatedImages: 0, uploadedImages: 0, totalCoinsUsed: 0 }),
      'GET /me/ledger': () =>
        json(200, {
          items: [
            { id: 'e2', userId: 'u1', amount: -500, balanceAfter: -30, reason: 'purchase_reversal', imageId: null, purchaseId: 'p1', createdAt: '2026-01-02T00:00:00Z' },
            { id: 'e1', userId: 'u1', amount: 500, balanceAfter: 520, reason: 'purchase', imageId: null, purchaseId: 'p1', createdAt: '2026-01-01T00:00:00Z' },
          ],
          nextCursor: null,
        }),
      'GET /me/purchases': () => json(200, { items: [makePurchase({ status: 'REVERSED' }), makePurchase({ id: 'p2', status: 'FAILED', failureReason: 'amount_mismatch' })], nextCursor: null }),
    })
    const { wrapper } = await mountView(AccountView, '/account', shopRoutes)
    const rows = wrapper.findAll('[data-testid="purchase-row"]')
    expect(rows.map((r) => r.attributes('data-status'))).toEqual(['REVERSED', 'FAILED'])
    expect(rows[0].text()).toContain('Refunded')
    expect(rows[1].text()).toContain('did not match')
    const reasons = wrapper.findAll('[data-testid="ledger-row"]').map((r) => r.text())
    expect(reasons[0]).toContain('Purchase refunded')
    expect(reasons[1]).toContain('Coins bought')
  })

  it('lists every purchase for admins, filtered by status', async () => {
    applyUser(makeUser({ id: 'admin', roles: ['USER', 'ADMIN'] }))
    const { calls } = mockFetch({
      'GET /admin/users': () => json(200, { items: [], nextCursor: null }),
      'GET /admin/images': () => json(200, { items: [], nextCursor: null }),
      'GET /admin/purchases': (call) =>
        json(200, { items: call.query.get('status') === 'PAID' ? [makePurchase({ status: 'PAID' })] : [makePurchase(), makePurchase({ id: 'p2', status: 'PAID' })], nextCursor: null }),
    })
    const { wrapper } = await mountView(AdminView, '/test', shopRoutes)
    await wrapper.find('[data-testid="tab-purchases"]').trigger('click')
    await flushPromises()
    expect(wrapper.findAll('[data-testid="admin-purchases"] [data-testid="purchase-row"]')).toHaveLength(2)
    await wrapper.find('[data-testid="purchase-status"]').setValue('PAID')
    await flushPromises()
    expect(calls.filter((c) => c.path === '/admin/purchases').at(-1)!.query.get('status')).toBe('PAID')
    expect(wrapper.findAll('[data-testid="admin-purchases"] [data-testid="purchase-row"]')).toHaveLength(1)
  })

  it('formats money in the smallest unit of each currency', () => {
    expect(formatMoney(499, 'usd', 'en')).toBe('$4.99')
    expect(formatMoney(500, 'jpy', 'en')).toBe('¥500')
    expect(formatMoney(1999, 'eur', 'es')).toMatch(/19,99/)
  })
})
