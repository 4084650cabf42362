package io.hapticmat.presence

import io.hapticmat.core.HapticMatException
import io.hapticmat.core.UpdateOutcome
import io.hapticmat.core.UpdateProgress
import java.io.File
import java.security.MessageDigest
import java.util.Base64
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.launch
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import kotlin.time.Duration.Companion.seconds
import org.junit.jupiter.api.Test

/** Updates from a store laid out by `pipeline publish`, served over HTTP on loopback. */
class ModelUpdateTest : PublishedStoreTest() {
    private fun sha256(f: File) = MessageDigest.getInstance("SHA-256").digest(f.readBytes()).joinToString("") { "%02x".format(it) }

    @Test
    fun `a published model is installed, reported with progress, and runs in the monitor`() = runBlocking<Unit> {
        StoreServer(store).use { server ->
            ModelUpdates.open(server.baseUrl, File(dir, "cache"), listOf(publicKey)).use { updates ->
                assertNull(updates.currentModel)
                val progress = async(Dispatchers.Default) {
                    updates.progress.takeWhile { it !is UpdateProgress.Finished }.toList()
                }
                eventually { updates.subscriptionCount == 1 }

                val result = updates.checkNow()
                assertEquals(UpdateOutcome.UPDATED, result.outcome)
                assertEquals(1uL, result.model.sequence)
                assertEquals("1.0.0", result.model.version)
                assertEquals("kotlin-test-run", result.model.sourceRunId)
                assertEquals(sha256(TestEnvironment.model), result.model.sha256)
                assertEquals(result.model, updates.currentModel)
                val steps = progress.await()
                assertEquals(UpdateProgress.CheckingManifest, steps.first())
                assertTrue(steps.any { it is UpdateProgress.Downloading }, "$steps")
                assertTrue(UpdateProgress.Verifying in steps, "$steps")
                eventually { updates.subscriptionCount == 0 }

                assertEquals(UpdateOutcome.UP_TO_DATE, updates.checkNow().outcome)
                assertEquals(UpdateOutcome.UP_TO_DATE, updates.lastOutcome?.outcome)

                PresenceMonitor().use { monitor ->
                    val details = monitor.useInstalledModel(updates)
                    assertEquals(result.model.path, details.path)
                    assertTrue(details.quantized)
                }
            }
        }
    }

    @Test
    fun `cancelling the calling coroutine cancels the check in Rust`() = runBlocking<Unit> {
        StoreServer(store, hangOn = "models/").use { server ->
            ModelUpdates.open(server.baseUrl, File(dir, "cache"), listOf(publicKey)).use { updates ->
                // The generated suspend function itself, without the facade's explicit cancel(): Kotlin frees
                // the Rust future on cancellation, and that alone must stop the check.
                val check = launch(Dispatchers.Default) { updates.native.checkNow() }
                eventually { server.hanging.get() == 1 }
                check.cancelAndJoin()
                eventually { updates.lastOutcome != null }
                val report = updates.lastOutcome!!
                assertEquals(UpdateOutcome.FAILED, report.outcome)
                assertEquals("cancelled", report.error)
                assertNull(updates.currentModel)
                // The request is still stalled in the HTTP client (its read timeout is 30 s): closing must
                // not wait for it.
                assertEquals(1, server.hanging.get())
                withTimeout(10.seconds) { withContext(Dispatchers.IO) { updates.close() } }
            }
        }
    }

    @Test
    fun `a model whose bytes were changed is refused and nothing is installed`() = runBlocking<Unit> {
        val model = File(store, "models").listFiles()!!.single()
        val bytes = model.readBytes()
        bytes[bytes.size / 2] = (bytes[bytes.size / 2].toInt() xor 1).toByte()
        model.writeBytes(bytes)
        StoreServer(store).use { server ->
            ModelUpdates.open(server.baseUrl, File(dir, "cache"), listOf(publicKey)).use { updates ->
                val e = assertFailsWith<HapticMatException.ModelRejected> { updates.checkNow() }
                assertTrue(e.message!!.contains("SHA-256"), e.message)
                assertNull(updates.currentModel)
                assertEquals(UpdateOutcome.REJECTED, updates.lastOutcome?.outcome)
                assertNotNull(updates.lastOutcome?.error)
            }
        }
    }

    @Test
    fun `a manifest changed after signing is untrusted`() = runBlocking<Unit> {
        val latest = File(store, "latest.json")
        val envelope = latest.readText()
        val payload = Regex("\"payload\"\\s*:\\s*\"([^\"]+)\"").find(envelope)!!.groupValues[1]
        val manifest = String(Base64.getDecoder().decode(payload))
        val forged = manifest.replace("\"sequence\": 1", "\"sequence\": 2").replace("\"sequence\":1", "\"sequence\":2")
        check(forged != manifest) { "no sequence field in $manifest" }
        latest.writeText(envelope.replace(payload, Base64.getEncoder().encodeToString(forged.toByteArray())))
        StoreServer(store).use { server ->
            ModelUpdates.open(server.baseUrl, File(dir, "cache"), listOf(publicKey)).use { updates ->
                assertFailsWith<HapticMatException.UpdateUntrusted> { updates.checkNow() }
                assertNull(updates.currentModel)
            }
        }
    }
    @Test
    fun `an app pinning the root trusts the publisher key its key set lists, and not another root's`() = runBlocking<Unit> {
        val root = File(dir, "root.pem")
        pipeline("keygen", "--out", root.path)
        val keySet = File(dir, "keys.json")
        pipeline(
            "keys", "sign", "--root", root.path, "--version", "1",
            "--publisher", File(dir, "signing.key.pub").path, "--out", keySet.path,
        )
        val pinnedStore = File(dir, "pinned-store")
        pipeline(
            "publish", "--model", TestEnvironment.model.path, "--key", File(dir, "signing.key").path,
            "--store", pinnedStore.path, "--sequence", "1", "--version", "1.0.0", "--expires-in", "30",
            "--key-set", keySet.path, "--root-key", "${root.path}.pub",
        )
        assertTrue(File(pinnedStore, "keys.json").isFile)
        StoreServer(pinnedStore).use { server ->
            // No publisher key in the app: it comes from keys.json, checked against the pinned root.
            val rootKey = File("${root.path}.pub").readText()
            ModelUpdates.open(server.baseUrl, File(dir, "cache"), emptyList(), rootKey = rootKey).use { updates ->
                val result = updates.checkNow()
                assertEquals(UpdateOutcome.UPDATED, result.outcome)
                assertEquals(sha256(TestEnvironment.model), result.model.sha256)
            }
            val otherRoot = File(dir, "other-root.pem")
            pipeline("keygen", "--out", otherRoot.path)
            val otherKey = File("${otherRoot.path}.pub").readText()
            ModelUpdates.open(server.baseUrl, File(dir, "other-cache"), emptyList(), rootKey = otherKey).use { updates ->
                assertFailsWith<HapticMatException.UpdateUntrusted> { updates.checkNow() }
                assertNull(updates.currentModel)
            }
        }
    }
}
