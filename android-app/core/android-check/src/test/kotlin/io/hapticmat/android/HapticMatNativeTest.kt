package io.hapticmat.android

import android.app.Application
import android.os.Build
import org.robolectric.RuntimeEnvironment
import io.hapticmat.core.MatSource
import io.hapticmat.core.PresenceState
import io.hapticmat.core.SessionStatus
import io.hapticmat.presence.HapticMat
import io.hapticmat.presence.PresenceMonitor
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertSame
import kotlin.test.assertTrue
import io.hapticmat.core.MonitorState
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlin.time.Duration.Companion.seconds
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config

/**
 * The Android glue and the Android bindings (android = true: Android's cleaner on API 33+, `@RequiresApi`)
 * run under Robolectric's Android 14 framework, against the host build of rust-core and ONNX Runtime
 * (found through java.library.path, as on a device through the APK's lib/<abi>/).
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34])
class HapticMatNativeTest {
    private val app: Application = RuntimeEnvironment.getApplication()

    @Test
    fun `load finds ONNX Runtime and the core by library name and keeps the files in the app's private storage`() {
        val environment = HapticMatNative.load(app)
        assertTrue(HapticMatNative.isLoaded)
        assertSame(environment, HapticMatNative.load(app), "idempotent: one environment per process")

        // Models: re-downloaded rather than restored, and kept when the user clears the cache.
        assertEquals(File(app.noBackupFilesDir, "hapticmat/models"), environment.modelCacheDir)
        assertTrue(environment.modelCacheDir.path.startsWith(app.dataDir.path), environment.modelCacheDir.path)
        // Baselines: worth a backup.
        assertEquals(File(app.filesDir, "hapticmat/baselines"), environment.baselineDir)
        assertEquals("libonnxruntime.so", environment.onnxRuntimeLibrary)
    }

    @Test
    fun `the Android bindings run a replay of the real recordings and free native memory through Android's cleaner`() =
        runBlocking<Unit> {
            assertEquals(34, Build.VERSION.SDK_INT, "the framework is Android 14's: the bindings pick its SystemCleaner")
            HapticMatNative.load(app)
            // On a device the core dlopens the name NativeEnvironment gives, which resolves to the library
            // already loaded from the APK; glibc matches loaded libraries by path, so the host passes it.
            HapticMat.setOnnxRuntimeLibrary(File(System.getProperty("hapticmat.ortDir"), "libonnxruntime.so").path)
            val recordings = File(System.getProperty("hapticmat.recordings"))
            PresenceMonitor().use { monitor ->
                monitor.loadModel(File(System.getProperty("hapticmat.model")))
                val updates = Channel<MonitorState>(Channel.UNLIMITED)
                // Subscribed before the start: a replay at full speed ends in well under a second.
                val collector = launch(Dispatchers.Default) { monitor.states.collect { updates.send(it) } }
                withTimeout(10.seconds) { while (monitor.subscriptionCount != 1) delay(5) }
                monitor.start(
                    MatSource.Replay(
                        listOf("empty_or_cat_on_mat.csv", "human_on_mat.csv").map { File(recordings, it).path },
                        false,
                    ),
                )
                val seen = mutableListOf<MonitorState>()
                withTimeout(60.seconds) {
                    do {
                        val state = updates.receive()
                        seen += state
                    } while (state.session != SessionStatus.Ended)
                }
                collector.cancelAndJoin()
                assertTrue(seen.any { it.presence == PresenceState.ABSENT }, "the empty mat: ${seen.map { it.presence }}")
                assertTrue(seen.any { it.present }, "a person: ${seen.map { it.presence }}")
            }
            assertEquals(0L, HapticMat.nativeObjectCount, "closing frees the monitor and its subscriptions")
        }
}
