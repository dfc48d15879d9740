// A Worker as the authorizer's origin, reached through the `ORIGIN` service binding: it has no
// public route of its own (workers_dev = false), so only the authorizer can call it. It answers
// with what it received, as scripts/demo-origin.mjs does for an origin on the network.
export default {
  async fetch(request) {
    const body =
      request.method === "GET" || request.method === "HEAD" ? new ArrayBuffer(0) : await request.arrayBuffer();
    const url = new URL(request.url);
    return Response.json({
      via: "service-binding",
      method: request.method,
      url: request.url,
      path: url.pathname + url.search,
      headers: Object.fromEntries(request.headers),
      bodyBytes: body.byteLength,
    });
  },
};
