package io.hapticmat.presence

import com.sun.net.httpserver.HttpServer
import java.io.Closeable
import java.io.File
import java.net.InetSocketAddress
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

/**
 * A store served over HTTP on loopback, as the phone reads the production bucket: `GET` of the files
 * under [root] (`latest.json`, `models/<sha256>.onnx`), 404 for anything else. The JDK's own server.
 * Requests for paths starting with [hangOn] get no answer until the server closes (a stalled download).
 * What a real bucket or CDN also does, on request: [etags] (an `ETag` per file, `304` to a matching
 * `If-None-Match`), `Range` (always: `206` with `Content-Range`), [redirectPrefix] (`302` from
 * `<prefix>/<path>` to `/<path>`), and [cutFirstModelAt] (the first download of a model stops after that
 * many bytes, a dropped connection).
 */
class StoreServer(
    private val root: File,
    private val hangOn: String? = null,
    private val etags: Boolean = false,
    private val redirectPrefix: String? = null,
    private val cutFirstModelAt: Int? = null,
) : Closeable {
    private val released = CountDownLatch(1)
    private val pool = Executors.newCachedThreadPool()
    private val cut = AtomicInteger()

    /** Requests held by [hangOn] so far. */
    val hanging = AtomicInteger()

    /** Every request: its path and headers (names lower-case), in order. */
    val requests: MutableList<Pair<String, Map<String, String>>> = java.util.Collections.synchronizedList(mutableListOf())

    private val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0).apply {
        executor = pool
        createContext("/") { exchange ->
            exchange.use {
                val relative = exchange.requestURI.path.trimStart('/')
                val headers = exchange.requestHeaders.entries.associate { (k, v) -> k.lowercase() to v.joinToString(",") }
                requests.add(relative to headers)
                if (hangOn != null && relative.startsWith(hangOn)) {
                    hanging.incrementAndGet()
                    released.await(60, TimeUnit.SECONDS)
                    return@use
                }
                if (redirectPrefix != null && relative.startsWith("$redirectPrefix/")) {
                    exchange.responseHeaders.add("Location", "/" + relative.removePrefix("$redirectPrefix/"))
                    exchange.sendResponseHeaders(302, -1)
                    return@use
                }
                val file = File(root, relative).canonicalFile
                val inside = file.path.startsWith(root.canonicalPath + File.separator)
                if (exchange.requestMethod != "GET" || !inside || !file.isFile) {
                    exchange.sendResponseHeaders(404, -1)
                    return@use
                }
                val bytes = file.readBytes()
                val tag = "\"" + java.security.MessageDigest.getInstance("SHA-256").digest(bytes)
                    .joinToString("") { "%02x".format(it) }.take(16) + "\""
                if (etags) {
                    exchange.responseHeaders.add("ETag", tag)
                    if (headers["if-none-match"] == tag) {
                        exchange.sendResponseHeaders(304, -1)
                        return@use
                    }
                }
                exchange.responseHeaders.add("Content-Type", "application/octet-stream")
                val from = headers["range"]?.removePrefix("bytes=")?.substringBefore('-')?.toIntOrNull()
                if (from != null && from in bytes.indices) {
                    exchange.responseHeaders.add("Content-Range", "bytes $from-${bytes.size - 1}/${bytes.size}")
                    exchange.sendResponseHeaders(206, (bytes.size - from).toLong())
                    exchange.responseBody.write(bytes, from, bytes.size - from)
                    return@use
                }
                exchange.sendResponseHeaders(200, bytes.size.toLong())
                val cutAt = cutFirstModelAt
                if (cutAt != null && relative.startsWith("models/") && cut.getAndIncrement() == 0) {
                    exchange.responseBody.write(bytes, 0, cutAt)
                    exchange.responseBody.flush()
                    // Closing short of the declared length drops the connection.
                    return@use
                }
                exchange.responseBody.write(bytes)
            }
        }
        start()
    }

    /** The store's base URL, ending in `/`. */
    val baseUrl: String get() = "http://127.0.0.1:${server.address.port}/"

    override fun close() {
        released.countDown()
        server.stop(0)
        pool.shutdownNow()
    }
}
