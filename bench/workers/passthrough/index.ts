// The floor: forwards every request to the origin unchanged, nothing else. Every other target's
// figures are read against this one, measured in the same round.
interface Env {
  ORIGIN_URL: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    return fetch(new URL(url.pathname + url.search, env.ORIGIN_URL), request);
  },
} satisfies ExportedHandler<Env>;
