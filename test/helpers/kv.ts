// A wrapper around the real KV binding, at the boundary: counts reads and can make writes fail.
import { env } from "cloudflare:test";

export class FlakyKv {
  reads = 0;
  writes = 0;
  failWrites = false;
  failReads = false;
  /** Keys that read as absent, as KV shows a new key late in another location. */
  hidden: (key: string) => boolean = () => false;
  constructor(readonly inner: KVNamespace = env.REVOCATIONS) {}

  binding(): KVNamespace {
    const self = this;
    return {
      get(key: string, type?: unknown) {
        self.reads++;
        if (self.failReads) return Promise.reject(new Error("KV read failed"));
        if (self.hidden(key)) return Promise.resolve(null);
        return (self.inner.get as (k: string, t?: unknown) => Promise<unknown>)(key, type);
      },
      put(key: string, value: string) {
        self.writes++;
        if (self.failWrites) return Promise.reject(new Error("KV write failed (429)"));
        return self.inner.put(key, value);
      },
      delete(key: string) {
        if (self.failWrites) return Promise.reject(new Error("KV delete failed"));
        return self.inner.delete(key);
      },
    } as unknown as KVNamespace;
  }
}
