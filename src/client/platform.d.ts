// The only globals the client may use: the part of fetch, AbortSignal, URL, timers and Web Crypto
// that Node 22, Cloudflare Workers and browsers all provide. Declared here, instead of taking
// lib.dom, @types/node or the Workers types, so that tsconfig.client.json rejects anything else.
// WebSocket is not declared: its constructor differs between runtimes (follow.ts looks it up).
// This file is only for the client's own typecheck; it is not emitted and not part of the package.

interface AbortSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}
declare var AbortSignal: {
  prototype: AbortSignal;
  timeout(ms: number): AbortSignal;
  any(signals: AbortSignal[]): AbortSignal;
};

interface URLSearchParams {
  set(name: string, value: string): void;
}
interface URL {
  protocol: string;
  readonly search: string;
  readonly hash: string;
  readonly searchParams: URLSearchParams;
  readonly href: string;
}
declare var URL: { prototype: URL; new (url: string, base?: string): URL };

declare function fetch(
  input: string,
  init?: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal },
): Promise<{
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
}>;

declare function setTimeout(callback: () => void, ms: number): unknown;
declare function clearTimeout(handle: unknown): void;
declare function setInterval(callback: () => void, ms: number): unknown;
declare function clearInterval(handle: unknown): void;

declare var crypto: {
  randomUUID?(): string;
  getRandomValues<T extends Uint8Array>(array: T): T;
};
