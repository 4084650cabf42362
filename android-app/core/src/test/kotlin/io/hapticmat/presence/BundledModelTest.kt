package io.hapticmat.presence

import io.hapticmat.core.HapticMatException
import io.hapticmat.core.UpdateOutcome
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

/**
 * The first run with no network: the signed model the app carries (a folder `pipeline publish` laid out)
 * is installed through the real library, verified against the pinned key like any update; the store's
 * later updates go on top, and the bundle never replaces them.
 */
class BundledModelTest {
    @TempDir
    lateinit var dir: File

    private lateinit var key: File
    private lateinit var publicKey: String
    private lateinit var bundle: File
    private val cache get() = File(dir, "cache")

    @BeforeEach
    fun publishTheBundle() {
        key = File(dir, "signing.key")
        pipeline("keygen", "--out", key.path)
        publicKey = File(dir, "signing.key.pub").readText()
        bundle = publish(File(dir, "bundle"), sequence = 1, version = "1.0.0")
    }

    private fun publish(store: File, sequence: Int, version: String): File {
        pipeline(
            "publish", "--model", TestEnvironment.model.path, "--key", key.path, "--store", store.path,
            "--sequence", "$sequence", "--version", version, "--expires-in", "400", "--run-id", "bundled",
        )
        return store
    }

    @Test
    fun `the bundled model is installed on the first run without any network and serves the monitor`() = runBlocking<Unit> {
        val installed = ModelUpdates.installBundled(bundle, cache, listOf(publicKey))
        assertEquals("1.0.0", installed.version)
        assertEquals(1uL, installed.sequence)

        // A build without a store of its own keeps serving from the bundle.
        ModelUpdates.open(ModelUpdates.bundleUrl(bundle), cache, listOf(publicKey)).use { updates ->
            assertEquals(installed, updates.currentModel)
            assertEquals(UpdateOutcome.UP_TO_DATE, updates.checkNow().outcome)
            PresenceMonitor().use { monitor ->
                assertEquals(installed.path, monitor.useInstalledModel(updates).path)
            }
        }
    }

    @Test
    fun `a later update from the store is never replaced by the bundle`() = runBlocking<Unit> {
        ModelUpdates.installBundled(bundle, cache, listOf(publicKey))
        val store = publish(File(dir, "store"), sequence = 2, version = "1.1.0")
        StoreServer(store).use { server ->
            ModelUpdates.open(server.baseUrl, cache, listOf(publicKey)).use { updates ->
                assertEquals(UpdateOutcome.UPDATED, updates.checkNow().outcome)
                assertEquals("1.1.0", updates.currentModel?.version)
            }
        }
        // The next start runs the first-run step again: it sees a model and leaves it.
        assertEquals("1.1.0", ModelUpdates.installBundled(bundle, cache, listOf(publicKey)).version)
    }

    @Test
    fun `a bundle signed with another key is refused and nothing is installed`() = runBlocking<Unit> {
        val other = File(dir, "other.key")
        pipeline("keygen", "--out", other.path)
        assertFailsWith<HapticMatException.UpdateUntrusted> {
            ModelUpdates.installBundled(bundle, cache, listOf(File(dir, "other.key.pub").readText()))
        }
        ModelUpdates.open(ModelUpdates.bundleUrl(bundle), cache, listOf(publicKey)).use { updates ->
            assertNull(updates.currentModel, "nothing was installed")
        }
    }

    @Test
    fun `a bundle whose model bytes were changed is refused`() = runBlocking<Unit> {
        val model = File(bundle, "models").listFiles()!!.single()
        model.appendBytes(byteArrayOf(0))
        assertFailsWith<HapticMatException.ModelRejected> { ModelUpdates.installBundled(bundle, cache, listOf(publicKey)) }
        assertTrue(cache.listFiles().orEmpty().none { it.name.endsWith(".onnx") }, "no model file in the cache")
    }
}
