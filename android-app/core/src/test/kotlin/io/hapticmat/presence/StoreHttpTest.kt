package io.hapticmat.presence

import io.hapticmat.core.HapticMatException
import io.hapticmat.core.StoreHttpException
import io.hapticmat.core.StoreHttpClient
import io.hapticmat.core.StoreHttpRequest
import io.hapticmat.core.StoreHttpResponse
import io.hapticmat.core.UpdateOutcome
import io.hapticmat.core.UpdateProgress
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test

/**
 * The store read through [UrlConnectionStoreHttp] (what the Android library does: it carries no HTTP stack
 * of its own) with the core's rules on top: conditional manifest requests, redirects the core follows,
 * a dropped download resumed with `Range`, and the size and hash checks whatever the client returns.
 */
class StoreHttpTest : PublishedStoreTest() {
    @Test
    fun `the manifest is asked for conditionally and a 304 keeps the verified model`() = runBlocking<Unit> {
        StoreServer(store, etags = true).use { server ->
            ModelUpdates.open(server.baseUrl, File(dir, "cache"), listOf(publicKey)).use { updates ->
                assertEquals(UpdateOutcome.UPDATED, updates.checkNow().outcome)
                assertEquals(UpdateOutcome.UP_TO_DATE, updates.checkNow().outcome)
            }
            val manifests = server.requests.filter { it.first == "latest.json" }
            assertEquals(2, manifests.size, "${server.requests}")
            assertNull(manifests[0].second["if-none-match"])
            assertTrue(manifests[1].second["if-none-match"]!!.startsWith("\""), "${manifests[1]}")
            // The exact bytes, never a compressed stream: lengths and ranges must mean the file.
            assertTrue(server.requests.all { it.second["accept-encoding"] == "identity" }, "${server.requests}")
            assertTrue(server.requests.all { it.second["user-agent"]!!.startsWith("hapticmat-core/") })
        }
    }

    @Test
    fun `redirects are followed by the core, and a dropped download resumes where it stopped`() = runBlocking<Unit> {
        val size = File(store, "models").listFiles()!!.single().length().toInt()
        StoreServer(store, redirectPrefix = "moved", cutFirstModelAt = size / 2).use { server ->
            ModelUpdates.open("${server.baseUrl}moved/", File(dir, "cache"), listOf(publicKey)).use { updates ->
                val progress = async(Dispatchers.Default) {
                    updates.progress.takeWhile { it !is UpdateProgress.Finished }.toList()
                }
                eventually { updates.subscriptionCount == 1 }
                assertEquals(UpdateOutcome.UPDATED, updates.checkNow().outcome)
                assertTrue(progress.await().any { it is UpdateProgress.Retrying }, "a retry after the cut")
            }
            val paths = server.requests.map { it.first }
            assertTrue(paths.first() == "moved/latest.json" && "latest.json" in paths, "$paths")
            val models = server.requests.filter { it.first.startsWith("models/") }
            assertEquals(2, models.size, "$paths")
            assertNull(models[0].second["range"])
            assertEquals("bytes=${size / 2}-", models[1].second["range"])
        }
    }

    @Test
    fun `a chain of redirects past the core's limit is refused and nothing is installed`() = runBlocking<Unit> {
        StoreServer(store, redirectPrefix = "moved").use { server ->
            // Each hop drops one "moved/": seven hops before latest.json, the core follows five.
            val base = server.baseUrl + "moved/".repeat(7)
            ModelUpdates.open(base, File(dir, "cache"), listOf(publicKey)).use { updates ->
                val e = assertFailsWith<HapticMatException> { updates.checkNow() }
                assertTrue(e.message!!.contains("more than 5 redirects"), e.message)
                assertNull(updates.currentModel)
            }
            assertEquals(6, server.requests.size, "${server.requests.map { it.first }}")
        }
    }

    @Test
    fun `the client names a refused connection and refuses a URL that is not HTTP`() = runBlocking<Unit> {
        val client = UrlConnectionStoreHttp()
        val refused = assertFailsWith<StoreHttpException.Network> {
            client.get(StoreHttpRequest("http://127.0.0.1:9/latest.json", emptyList(), 2_000u, 2_000u))
        }
        assertTrue(refused.reason.contains("ConnectException"), refused.reason)
        assertFailsWith<StoreHttpException.Refused> {
            client.get(StoreHttpRequest("ftp://127.0.0.1/latest.json", emptyList(), 2_000u, 2_000u))
        }
        assertFailsWith<StoreHttpException.Refused> {
            client.get(StoreHttpRequest("nonsense:", emptyList(), 2_000u, 2_000u))
        }
    }

    @Test
    fun `a request the platform refuses ends the check at once as a configuration error`() = runBlocking<Unit> {
        // What Android's HttpURLConnection does with plain HTTP under the default network security config
        // (no such policy on a desktop JVM, so a client stands in for it).
        val calls = java.util.concurrent.atomic.AtomicInteger()
        val cleartextPolicy = object : StoreHttpClient {
            override fun get(request: StoreHttpRequest): StoreHttpResponse {
                calls.incrementAndGet()
                throw StoreHttpException.Refused("UnknownServiceException: CLEARTEXT communication not permitted")
            }
        }
        StoreServer(store).use { server ->
            ModelUpdates.open(server.baseUrl, File(dir, "cache"), listOf(publicKey), http = cleartextPolicy).use { updates ->
                val e = assertFailsWith<HapticMatException.Configuration> { updates.checkNow() }
                assertTrue(e.message!!.contains("CLEARTEXT"), e.message)
                assertNull(updates.currentModel)
            }
            assertEquals(1, calls.get())
            assertTrue(server.requests.isEmpty())
        }
    }
}
