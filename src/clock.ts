// The wall clock in the unit the contract's times use (Unix seconds), read in one place.

/** Now, in whole Unix seconds. */
export const nowSec = (): number => Math.floor(Date.now() / 1000);
