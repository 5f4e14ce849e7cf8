// js-libp2p interop peer for the CircuitRelay tests.
//
// Run as: node --import ./polyfill.mjs peer.mjs <subcommand> [options]
// Events go to stdout, one per line. Logs go to stderr. README.md lists every line and exit code.
// Evaluated before the libp2p modules, so a run without --import still works.
import './polyfill.mjs'
import { randomFillSync } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { autoNAT } from '@libp2p/autonat'
import { autoNATv2 } from '@libp2p/autonat-v2'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { pbStream } from '@libp2p/utils'
// js-libp2p's own AutoNAT codecs (the packages export only their services; the files are theirs, pinned in the lockfile).
import { Message as AutonatV1Message } from './node_modules/@libp2p/autonat/dist/src/pb/index.js'
import { DialBack, DialBackResponse, Message as AutonatV2Message } from './node_modules/@libp2p/autonat-v2/dist/src/pb/index.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const ECHO_PROTOCOL = '/echo/1.0.0'
const LOOPBACK = '127.0.0.1'
const SEND_CHUNK = 64 * 1024
// At most this much sent and not yet echoed back: the echo server holds what it cannot send back yet, and a
// js-libp2p stream resets once 4 MiB wait unread (its yamux window may have grown past that). See docs/interop.md.
const MAX_UNECHOED = 2 * 1024 * 1024
const STOP_TIMEOUT_MS = 5_000

const EXIT_OK = 0
const EXIT_FAILED = 1
const EXIT_USAGE = 2

const USAGE = `usage: node --import ./polyfill.mjs peer.mjs <subcommand> [options]

subcommands:
  relay --port <p> [--duration-limit <s>] [--data-limit <bytes>] [--no-limit] [--via <relay multiaddr>]
  listen --relay <relay multiaddr ending in /p2p/<relay id>>
  listen-direct --port <p>
  autonat-server --port <p>   AutoNAT v1 and v2 servers (js refuses to dial private, loopback and documentation addresses)
  autonat-ask <server multiaddr> --autonat-version <1|2> [--port <p>]
                              one request as js-libp2p's clients send it (its codecs and exchange), for its own
                              loopback address, which js's clients never ask about themselves
  dial <multiaddr> [--bytes <n>] [--warmup <n>]
  ping <multiaddr>

common options:
  --timeout <s>    bound for start-up (servers) or the whole run (dial, ping); default 60
  --lifetime <s>   servers stop after this long; 0 = never; default 600
  --stdin <mode>   watch: stop when stdin closes (servers' default); ignore (dial/ping default)
`

class UsageError extends Error {
  constructor (message) {
    super(message)
    this.name = 'UsageError'
  }
}

// ---------------------------------------------------------------- output

const command = process.argv[2] ?? ''

/** Writes one machine-readable event line to stdout. */
function emit (line) {
  process.stdout.write(`${line}\n`)
}

/** Writes one human-readable log line to stderr. */
function log (message) {
  process.stderr.write(`${new Date().toISOString()} [${command || 'peer'}] ${message}\n`)
}

/** Flattens an error to one line: `Name: message`, plus the cause if any, without stack frames. */
function describe (err) {
  let text = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  // Some libp2p errors embed inner stack traces in their message.
  text = text.split('\n').filter((line) => !/^\s*at\s/.test(line)).join(' ')
  if (err instanceof Error && err.cause != null) {
    text += ` (cause: ${describe(err.cause)})`
  }
  return text.replace(/\s+/g, ' ').trim()
}

function flushStdout () {
  return new Promise((resolve) => {
    process.stdout.write('', () => resolve())
  })
}

// ---------------------------------------------------------------- lifecycle

let node
let exiting = false

/** Stops the node (bounded), flushes stdout and exits. Only the first call counts. */
async function shutdown (code, reason) {
  if (exiting) {
    return
  }
  exiting = true
  log(`stopping: ${reason}`)

  const hardStop = setTimeout(() => {
    log(`node did not stop within ${STOP_TIMEOUT_MS} ms, exiting anyway`)
    process.exit(code)
  }, STOP_TIMEOUT_MS)

  try {
    await node?.stop()
  } catch (err) {
    log(`error while stopping: ${describe(err)}`)
  }

  clearTimeout(hardStop)
  await flushStdout()
  process.exit(code)
}

/** Prints `error <reason>` and exits with EXIT_FAILED. */
async function fail (err) {
  if (exiting) {
    return
  }
  emit(`error ${describe(err)}`)
  await shutdown(EXIT_FAILED, 'failed')
}

function installExitHandlers ({ watchStdin, lifetimeSeconds, server }) {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(signal, () => {
      if (server) {
        emit(`stopped ${signal}`)
      }
      void shutdown(EXIT_OK, signal)
    })
  }

  if (watchStdin) {
    // A test runner that dies closes our stdin; that is our cue to go.
    const onStdinGone = () => {
      if (server) {
        emit('stopped stdin-closed')
      }
      void shutdown(server ? EXIT_OK : EXIT_FAILED, 'stdin closed')
    }
    process.stdin.on('end', onStdinGone)
    process.stdin.on('close', onStdinGone)
    process.stdin.on('error', onStdinGone)
    process.stdin.on('data', () => {}) // discard input, keep reading so 'end' fires
    process.stdin.resume()
  }

  if (lifetimeSeconds > 0) {
    const timer = setTimeout(() => {
      emit(`stopped lifetime ${lifetimeSeconds}s`)
      void shutdown(EXIT_OK, `lifetime of ${lifetimeSeconds} s elapsed`)
    }, lifetimeSeconds * 1000)
    timer.unref()
  }

  process.on('unhandledRejection', (err) => {
    log(`unhandled rejection: ${describe(err)}`)
  })
}

// ---------------------------------------------------------------- arguments

function parseCommandLine (argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      port: { type: 'string' },
      relay: { type: 'string' },
      via: { type: 'string' },
      bytes: { type: 'string' },
      warmup: { type: 'string' },
      'duration-limit': { type: 'string' },
      'data-limit': { type: 'string' },
      'no-limit': { type: 'boolean', default: false },
      'autonat-version': { type: 'string' },
      timeout: { type: 'string' },
      lifetime: { type: 'string' },
      stdin: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  return { values, positionals }
}

/** Parses a non-negative integer option; `min` raises the floor. */
function integerOption (values, name, { fallback, min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  const raw = values[name]
  if (raw == null) {
    if (fallback === undefined) {
      throw new UsageError(`--${name} is required`)
    }
    return fallback
  }
  if (!/^\d+$/.test(raw)) {
    throw new UsageError(`--${name} must be a non-negative integer, got '${raw}'`)
  }
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be between ${min} and ${max}, got '${raw}'`)
  }
  return value
}

function multiaddrArgument (text, what, { requirePeer = true } = {}) {
  if (text == null || text === '') {
    throw new UsageError(`${what} is required`)
  }
  let ma
  try {
    ma = multiaddr(text)
  } catch (err) {
    throw new UsageError(`${what} '${text}' is not a multiaddr: ${describe(err)}`)
  }
  const peer = ma.getComponents().findLast((c) => c.name === 'p2p')
  if (peer?.value == null) {
    if (requirePeer) {
      throw new UsageError(`${what} '${text}' must end in /p2p/<peer id>`)
    }
    return ma
  }
  try {
    peerIdFromString(peer.value)
  } catch (err) {
    throw new UsageError(`${what} '${text}' has an invalid peer ID: ${describe(err)}`)
  }
  return ma
}

function noPositionals (positionals) {
  if (positionals.length > 0) {
    throw new UsageError(`unexpected argument '${positionals[0]}'`)
  }
}

// ---------------------------------------------------------------- node

/**
 * Creates and starts a TCP + Noise + Yamux node with identify and ping, a fresh Ed25519
 * identity and the echo handler when `echo` is set.
 */
async function startNode ({ listen = [], relayTransport = false, services = {}, echo = false, signal }) {
  const privateKey = await generateKeyPair('Ed25519')
  const created = await createLibp2p({
    privateKey,
    start: false,
    addresses: { listen },
    transports: [
      tcp(),
      ...(relayTransport ? [circuitRelayTransport()] : [])
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Node's default gater already allows private addresses; be explicit: we only use loopback.
    connectionGater: { denyDialMultiaddr: async () => false },
    services: {
      identify: identify(),
      ping: ping({ runOnLimitedConnection: true }),
      ...services
    }
  })
  node = created
  emit(`peer ${created.peerId.toString()}`)

  created.addEventListener('connection:open', (evt) => {
    const conn = evt.detail
    log(`connection open ${conn.direction} ${conn.remotePeer} ${conn.remoteAddr} limits=${formatLimits(conn.limits)}`)
  })
  created.addEventListener('connection:close', (evt) => {
    const conn = evt.detail
    log(`connection closed ${conn.direction} ${conn.remotePeer} ${conn.remoteAddr}`)
  })

  if (echo) {
    await created.handle(ECHO_PROTOCOL, serveEcho, { runOnLimitedConnection: true })
  }

  await withSignal(created.start(), signal, 'start-up')
  return created
}

function formatLimits (limits) {
  if (limits == null) {
    return 'none'
  }
  return `{bytes:${limits.bytes ?? 'none'},seconds:${limits.seconds ?? 'none'}}`
}

/** Races `promise` against `signal`; the rejection names what timed out. */
function withSignal (promise, signal, what) {
  if (signal == null) {
    return promise
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new Error(`${what} did not finish in time (${describe(signal.reason)})`))
    if (signal.aborted) {
      onAbort()
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

function loopbackTcpAddress (libp2p) {
  const addr = libp2p.getMultiaddrs().find((ma) => {
    const text = ma.toString()
    return text.startsWith(`/ip4/${LOOPBACK}/tcp/`) && !text.includes('/p2p-circuit')
  })
  if (addr == null) {
    throw new Error(`not listening on ${LOOPBACK}: ${libp2p.getMultiaddrs().map(String).join(' ')}`)
  }
  return addr
}

// ---------------------------------------------------------------- echo

/**
 * `/echo/1.0.0` responder: writes back every byte received, with backpressure, and closes its
 * write side once the remote has closed its own and every byte has been echoed.
 */
function serveEcho (stream, connection) {
  log(`echo stream from ${connection.remotePeer} via ${connection.remoteAddr} limits=${formatLimits(connection.limits)}`)
  let echoed = 0
  let finished = false

  const finish = () => {
    if (finished) {
      return
    }
    finished = true
    stream.close()
      .then(() => log(`echo stream done, ${echoed} bytes echoed`))
      .catch((err) => {
        log(`echo close failed: ${describe(err)}`)
        stream.abort(err)
      })
  }

  stream.addEventListener('message', (evt) => {
    try {
      echoed += evt.data.byteLength
      if (!stream.send(evt.data)) {
        // Stop reading until the remote has taken what we owe it.
        stream.pause()
        stream.onDrain().then(() => stream.resume(), (err) => stream.abort(err))
      }
    } catch (err) {
      stream.abort(err)
    }
  })
  // 'end' fires once the remote has closed its write side and the read buffer is empty.
  stream.addEventListener('end', finish)
  stream.addEventListener('close', (evt) => {
    if (evt.error != null) {
      log(`echo stream closed with error after ${echoed} bytes: ${describe(evt.error)}`)
    }
  })
  if (stream.readableEnded) {
    finish()
  }
}

/** Sends `payload`, half-closes, and resolves once the exact same bytes came back. */
async function echoRoundTrip (stream, connection, payload, signal) {
  let echoed = 0
  let progress = Promise.withResolvers()
  const onProgress = (total) => {
    echoed = total
    progress.resolve()
    progress = Promise.withResolvers()
  }
  const received = receiveEcho(stream, connection, payload, signal, onProgress)
  // If the echo fails, the sender must not wait for echoed bytes forever.
  let failed = false
  received.catch(() => {
    failed = true
    progress.resolve()
  })
  const sent = (async () => {
    for (let offset = 0; offset < payload.byteLength; offset += SEND_CHUNK) {
      signal.throwIfAborted()
      const chunk = payload.subarray(offset, Math.min(payload.byteLength, offset + SEND_CHUNK))
      while (!failed && offset + chunk.byteLength - echoed > MAX_UNECHOED) {
        await progress.promise
      }
      if (failed) {
        return
      }
      if (!stream.send(chunk)) {
        await stream.onDrain({ signal })
      }
    }
    await stream.close({ signal })
  })()
  await Promise.all([sent, received])
}

function receiveEcho (stream, connection, expected, signal, onProgress) {
  const total = expected.byteLength
  return new Promise((resolve, reject) => {
    let offset = 0
    let settled = false

    const settle = (err) => {
      if (settled) {
        return
      }
      settled = true
      signal.removeEventListener('abort', onAbort)
      if (err == null) {
        resolve()
      } else {
        reject(err)
      }
    }
    const onAbort = () => settle(new Error(`echo not complete in time: ${offset} of ${total} bytes back (${describe(signal.reason)})`))

    stream.addEventListener('message', (evt) => {
      if (settled) {
        return
      }
      const buf = evt.data.subarray()
      if (offset + buf.byteLength > total) {
        settle(new Error(`received ${offset + buf.byteLength} bytes, more than the ${total} sent`))
        return
      }
      const want = Buffer.from(expected.buffer, expected.byteOffset + offset, buf.byteLength)
      const got = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
      if (!want.equals(got)) {
        let i = 0
        while (want[i] === got[i]) {
          i++
        }
        settle(new Error(`echo differs at byte ${offset + i} of ${total}`))
        return
      }
      offset += buf.byteLength
      onProgress(offset)
    })
    stream.addEventListener('end', () => {
      // A relay that kills the circuit can surface here as a plain end of stream.
      settle(offset === total ? undefined : new Error(`echo stream ended after ${offset} of ${total} bytes (connection ${connection?.status ?? 'unknown'})`))
    })
    stream.addEventListener('close', (evt) => {
      if (evt.error != null) {
        settle(new Error(`stream ${evt.local === true ? 'aborted' : 'reset by remote'} after ${offset} of ${total} bytes echoed: ${describe(evt.error)}`))
      } else {
        settle(offset === total ? undefined : new Error(`stream closed after ${offset} of ${total} bytes`))
      }
    })
    if (signal.aborted) {
      onAbort()
    } else {
      signal.addEventListener('abort', onAbort, { once: true })
    }
  })
}

function randomPayload (size) {
  const payload = new Uint8Array(size)
  for (let offset = 0; offset < size; offset += 65536) {
    randomFillSync(payload, offset, Math.min(65536, size - offset))
  }
  return payload
}

// ---------------------------------------------------------------- subcommands

async function runRelay (values, positionals, signal) {
  noPositionals(positionals)
  const port = integerOption(values, 'port', { max: 65535 })
  const reservations = { maxReservations: 128 }
  let limitLine

  if (values['no-limit']) {
    if (values['duration-limit'] != null || values['data-limit'] != null) {
      throw new UsageError('--no-limit cannot be combined with --duration-limit or --data-limit')
    }
    // Without a default limit the reservation carries no Limit, so circuits are not limited.
    reservations.applyDefaultLimit = false
    limitLine = 'limit none'
  } else {
    // js-libp2p quirk: defaultDurationLimit is in milliseconds. It drives the relay's own timer
    // and is also written unchanged into Limit.duration on the wire (spec: seconds).
    const durationSeconds = integerOption(values, 'duration-limit', { fallback: 120, min: 1, max: 2_147_483 })
    // js-libp2p quirk: one byte budget shared by both directions of a circuit.
    const dataBytes = integerOption(values, 'data-limit', { fallback: 131072, min: 1 })
    reservations.defaultDurationLimit = durationSeconds * 1000
    reservations.defaultDataLimit = BigInt(dataBytes)
    limitLine = `limit duration=${durationSeconds}s data=${dataBytes}`
  }

  // --via: this relay also reserves a slot on another relay (through the circuit transport), so it
  // can be reached over a relayed connection. Used to check that a relay refuses a RESERVE that
  // arrives over such a connection.
  const via = values.via == null ? undefined : multiaddrArgument(values.via, '--via')
  const viaListen = via?.encapsulate('/p2p-circuit')

  // As with `listen`, start() reserves on the --via relay and throws if that is refused.
  const libp2p = await startNode({
    listen: [`/ip4/${LOOPBACK}/tcp/${port}`, ...(viaListen == null ? [] : [viaListen.toString()])],
    relayTransport: via != null,
    services: { relay: circuitRelayServer({ reservations }) },
    echo: true,
    signal
  })
  emit(`listening ${loopbackTcpAddress(libp2p)}`)
  if (viaListen != null) {
    emit(`reachable ${viaListen}/p2p/${libp2p.peerId}`)
  }
  emit(limitLine)
  emit('ready')
}

async function runListen (values, positionals, signal) {
  noPositionals(positionals)
  const relay = multiaddrArgument(values.relay, '--relay')
  const relayId = relay.getComponents().findLast((c) => c.name === 'p2p').value
  const circuitListen = relay.encapsulate('/p2p-circuit')

  // The circuit listen address makes start() connect to the relay and reserve; start() throws
  // if the reservation is refused.
  const libp2p = await startNode({
    listen: [circuitListen.toString()],
    relayTransport: true,
    echo: true,
    signal
  })

  const self = libp2p.peerId.toString()
  const circuitAddrs = () => libp2p.getMultiaddrs().filter((ma) => ma.toString().includes('/p2p-circuit'))
  const advertised = circuitAddrs()
  for (const ma of advertised) {
    emit(`address ${ma}`)
  }

  // Prefer the address built from the relay address we were given: it is known to be
  // dialable. The relay may advertise other addresses as well.
  const expected = `${circuitListen}/p2p/${self}`
  const viaRelay = advertised.find((ma) => ma.toString() === expected) ??
    advertised.find((ma) => ma.toString().includes(`/p2p/${relayId}/p2p-circuit`))
  if (viaRelay == null) {
    log(`relay advertised no address for itself that we recognise; reporting ${expected}`)
  }
  emit(`reachable ${viaRelay ?? expected}`)

  let reachable = true
  libp2p.addEventListener('self:peer:update', () => {
    const now = circuitAddrs().some((ma) => ma.toString().includes(`/p2p/${relayId}/p2p-circuit`))
    if (reachable && !now && advertised.length > 0) {
      reachable = false
      emit(`unreachable ${relayId}`)
    } else if (!reachable && now) {
      reachable = true
      emit(`reachable ${viaRelay ?? expected}`)
    }
  })
}

async function runListenDirect (values, positionals, signal) {
  noPositionals(positionals)
  const port = integerOption(values, 'port', { max: 65535 })
  const libp2p = await startNode({
    listen: [`/ip4/${LOOPBACK}/tcp/${port}`],
    echo: true,
    signal
  })
  emit(`listening ${loopbackTcpAddress(libp2p)}`)
  emit('ready')
}

async function runAutonatServer (values, positionals, signal) {
  noPositionals(positionals)
  const port = integerOption(values, 'port', { max: 65535 })
  const libp2p = await startNode({
    listen: [`/ip4/${LOOPBACK}/tcp/${port}`],
    // The services' own clients start late and only ask about public addresses, which this node has none of.
    services: { autonat: autoNAT({ startupDelay: 600_000 }), autonatV2: autoNATv2({ startupDelay: 600_000 }) },
    signal
  })
  emit(`listening ${loopbackTcpAddress(libp2p)}`)
  emit('ready')
}

async function runAutonatAsk (values, positionals, signal) {
  if (positionals.length !== 1) {
    throw new UsageError('autonat-ask takes exactly one server multiaddr')
  }
  const server = multiaddrArgument(positionals[0], 'the server address')
  const version = integerOption(values, 'autonat-version', { fallback: 2, min: 1, max: 2 })
  const port = integerOption(values, 'port', { fallback: 0, max: 65535 })
  const libp2p = await startNode({ listen: [`/ip4/${LOOPBACK}/tcp/${port}`], signal })
  const mine = loopbackTcpAddress(libp2p).decapsulateCode(421)
  const connection = await libp2p.dial(server, { signal })

  if (version === 1) {
    // As @libp2p/autonat's askPeerToVerify.
    const stream = await connection.newStream('/libp2p/autonat/1.0.0', { signal })
    const messages = pbStream(stream).pb(AutonatV1Message)
    const [, response] = await Promise.all([
      messages.write({
        type: AutonatV1Message.MessageType.DIAL,
        dial: { peer: { id: libp2p.peerId.toMultihash().bytes, addrs: [mine.bytes] } }
      }, { signal }),
      messages.read({ signal })
    ])
    const answer = response.dialResponse
    emit(`autonat v1 ${answer?.status ?? 'none'} ${answer?.addr == null ? '-' : multiaddr(answer.addr).toString()} ${answer?.statusText ?? ''}`.trim())
    await shutdown(EXIT_OK, 'done')
    return
  }

  // As @libp2p/autonat-v2's client: a nonce, the dial-back answered only for it, dial data paid in 4 KiB chunks.
  // As js's client: below 2^53 (js's codec reads fixed64 as a signed 64-bit integer).
  const nonce = BigInt(Math.floor(Math.random() * Number.MAX_SAFE_INTEGER))
  let dialedBack = false
  await libp2p.handle('/libp2p/autonat/2/dial-back', async (stream) => {
    const backMessages = pbStream(stream)
    const message = await backMessages.read(DialBack, { signal })
    if (message.nonce !== nonce) {
      stream.abort(new Error('unknown nonce'))
      return
    }
    dialedBack = true
    await backMessages.write({ status: DialBackResponse.DialBackStatus.OK }, DialBackResponse)
    await stream.close({ signal })
  })
  const stream = await connection.newStream('/libp2p/autonat/2/dial-request', { signal })
  const messages = pbStream(stream).pb(AutonatV2Message)
  await messages.write({ dialRequest: { addrs: [mine.bytes], nonce } }, { signal })
  let response = await messages.read({ signal })
  let paid = 0n
  if (response.dialDataRequest != null) {
    const chunk = new Uint8Array(4096)
    for (; paid < response.dialDataRequest.numBytes; paid += 4096n) {
      await messages.write({ dialDataResponse: { data: chunk } }, { signal })
    }
    response = await messages.read({ signal })
  }
  const answer = response.dialResponse
  emit(`autonat v2 ${answer?.status ?? 'none'} ${answer?.dialStatus ?? 'none'} ${answer?.addrIdx ?? '-'} nonce ${dialedBack ? 'received' : 'not received'} dial-data ${paid}`)
  await shutdown(EXIT_OK, 'done')
}

async function runDial (values, positionals, signal) {
  if (positionals.length !== 1) {
    throw new UsageError('dial takes exactly one multiaddr')
  }
  const target = multiaddrArgument(positionals[0], 'the dial address', { requirePeer: false })
  const size = integerOption(values, 'bytes', { fallback: 1024, max: 1024 * 1024 * 1024 })
  const warmup = integerOption(values, 'warmup', { fallback: 0, max: 1024 * 1024 * 1024 })
  const payload = randomPayload(size)

  const libp2p = await startNode({ relayTransport: true, signal })
  if (warmup > 0) {
    // Untimed: the same echo on a stream of its own first, so the timed one runs on warmed-up code.
    const warmStream = await libp2p.dialProtocol(target, ECHO_PROTOCOL, { signal, runOnLimitedConnection: true })
    const warmConn = libp2p.getConnections().find((c) => c.streams.includes(warmStream))
    await echoRoundTrip(warmStream, warmConn, randomPayload(warmup), signal)
    log(`warm-up: ${warmup} bytes echoed`)
  }
  const stream = await libp2p.dialProtocol(target, ECHO_PROTOCOL, { signal, runOnLimitedConnection: true })
  const conn = libp2p.getConnections().find((c) => c.streams.includes(stream))
  log(`echo stream open over ${conn?.remoteAddr ?? '?'} limits=${formatLimits(conn?.limits)}`)

  const started = performance.now()
  await echoRoundTrip(stream, conn, payload, signal)
  const elapsed = Math.round(performance.now() - started)
  emit(`echo ok ${size} bytes in ${elapsed} ms`)
  await shutdown(EXIT_OK, 'done')
}

async function runPing (values, positionals, signal) {
  if (positionals.length !== 1) {
    throw new UsageError('ping takes exactly one multiaddr')
  }
  const target = multiaddrArgument(positionals[0], 'the ping address', { requirePeer: false })
  const libp2p = await startNode({ relayTransport: true, signal })
  const rtt = await libp2p.services.ping.ping(target, { signal, runOnLimitedConnection: true })
  emit(`ping ok ${rtt}`)
  await shutdown(EXIT_OK, 'done')
}

const SUBCOMMANDS = {
  relay: { run: runRelay, server: true },
  listen: { run: runListen, server: true },
  'listen-direct': { run: runListenDirect, server: true },
  'autonat-server': { run: runAutonatServer, server: true },
  'autonat-ask': { run: runAutonatAsk, server: false },
  dial: { run: runDial, server: false },
  ping: { run: runPing, server: false }
}

// ---------------------------------------------------------------- main

async function main () {
  const subcommand = SUBCOMMANDS[command]
  let values
  let positionals
  try {
    if (subcommand == null) {
      throw new UsageError(command === '' ? 'missing subcommand' : `unknown subcommand '${command}'`)
    }
    ({ values, positionals } = parseCommandLine(process.argv.slice(3)))
    if (values.help) {
      process.stdout.write(USAGE)
      return
    }
  } catch (err) {
    emit(`error ${describe(err)}`)
    process.stderr.write(USAGE)
    process.exitCode = EXIT_USAGE
    return
  }

  let timeoutSeconds
  let lifetimeSeconds
  let watchStdin
  try {
    timeoutSeconds = integerOption(values, 'timeout', { fallback: 60, min: 1 })
    lifetimeSeconds = integerOption(values, 'lifetime', { fallback: 600 })
    const stdinMode = values.stdin ?? (subcommand.server ? 'watch' : 'ignore')
    if (stdinMode !== 'watch' && stdinMode !== 'ignore') {
      throw new UsageError(`--stdin must be 'watch' or 'ignore', got '${stdinMode}'`)
    }
    watchStdin = stdinMode === 'watch'
  } catch (err) {
    emit(`error ${describe(err)}`)
    process.exitCode = EXIT_USAGE
    return
  }

  installExitHandlers({ watchStdin, lifetimeSeconds, server: subcommand.server })

  // Servers: the timeout bounds start-up. Clients: it bounds the whole run, including stop.
  const signal = AbortSignal.timeout(timeoutSeconds * 1000)
  if (!subcommand.server) {
    const overall = setTimeout(() => {
      void fail(new Error(`timed out after ${timeoutSeconds} s`))
    }, timeoutSeconds * 1000 + 1000)
    overall.unref()
  }

  try {
    await subcommand.run(values, positionals, signal)
  } catch (err) {
    if (err instanceof UsageError) {
      emit(`error ${describe(err)}`)
      exiting = true
      await node?.stop().catch(() => {})
      await flushStdout()
      process.exit(EXIT_USAGE)
    }
    await fail(err)
  }
}

await main()
