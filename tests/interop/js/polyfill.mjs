// Loaded with `node --import ./polyfill.mjs peer.mjs ...` before any libp2p module.
//
// js-libp2p 3.x calls Promise.withResolvers (ES2024), which Node 22 has and Node 20 lacks.
// This is the only post-Node-20 built-in that the pinned dependency tree uses
// (checked by grepping node_modules/**/dist for ES2024/ES2025 built-ins).
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
    writable: true,
    configurable: true,
    enumerable: false
  })
}
