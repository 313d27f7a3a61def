// Phone numbers leave the API masked (`+1555•••0001`): enough to tell calls apart, not to call anyone back.

/** `+15550100001` → `+1555•••0001`; `client:alice` → `client:•••`; anything else short → `•••`. */
export function maskNumber(value: string | undefined): string | null {
  if (value === undefined || value === '') return null;
  if (/^\+?\d{8,}$/.test(value)) return `${value.slice(0, value.startsWith('+') ? 5 : 4)}•••${value.slice(-4)}`;
  const scheme = /^(client|sip|sips):/i.exec(value);
  if (scheme) return `${scheme[1]}:•••`;
  return value.length > 6 ? `•••${value.slice(-2)}` : '•••';
}
