/** Leave the app for another page (Stripe Checkout). A module of its own so tests can replace it. */
export function leaveTo(url: string): void {
  window.location.assign(url)
}
