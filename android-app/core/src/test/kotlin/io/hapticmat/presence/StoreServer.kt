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
 */
class StoreServer(private val root: File, private val hangOn: String? = null) : Closeable {
    private val released = CountDownLatch(1)
    private val pool = Executors.newCachedThreadPool()

    /** Requests held by [hangOn] so far. */
    val hanging = AtomicInteger()

    private val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0).apply {
        executor = pool
        createContext("/") { exchange ->
            exchange.use {
                val relative = exchange.requestURI.path.trimStart('/')
                if (hangOn != null && relative.startsWith(hangOn)) {
                    hanging.incrementAndGet()
                    released.await(60, TimeUnit.SECONDS)
                    return@use
                }
                val file = File(root, relative).canonicalFile
                val inside = file.path.startsWith(root.canonicalPath + File.separator)
                if (exchange.requestMethod != "GET" || !inside || !file.isFile) {
                    exchange.sendResponseHeaders(404, -1)
                } else {
                    val bytes = file.readBytes()
                    exchange.responseHeaders.add("Content-Type", "application/octet-stream")
                    exchange.sendResponseHeaders(200, bytes.size.toLong())
                    exchange.responseBody.write(bytes)
                }
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
