/** An amount in the currency's smallest unit (cents), for people: "$4.99", "4,99 €". */
export function formatMoney(amountCents: number, currency: string, locale: string): string {
  const code = currency.toUpperCase()
  let digits = 2
  try {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions().maximumFractionDigits ?? 2
  } catch {
    return `${(amountCents / 100).toFixed(2)} ${code}`
  }
  return new Intl.NumberFormat(locale, { style: 'currency', currency: code }).format(amountCents / 10 ** digits)
}
