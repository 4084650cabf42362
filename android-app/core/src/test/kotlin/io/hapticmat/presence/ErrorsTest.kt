package io.hapticmat.presence

import io.hapticmat.core.HapticMatException
import io.hapticmat.core.InternalException
import io.hapticmat.core.MatSource
import io.hapticmat.core.SessionStatus
import io.hapticmat.core.ffiPanicProbe
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test

class ErrorsTest {
    @Test
    fun `a Rust panic becomes an exception and the library keeps working`() {
        val raw = assertFailsWith<InternalException> { ffiPanicProbe("from the test") }
        assertTrue(raw.message!!.contains("from the test"), raw.message)
        val mapped = assertFailsWith<HapticMatException.Internal> { mapErrors { ffiPanicProbe("again") } }
        assertTrue(mapped.message!!.contains("again"), mapped.message)
        assertTrue(HapticMat.coreVersion.isNotEmpty())
    }

    @Test
    fun `starting without a model is ModelNotLoaded`() = runBlocking<Unit> {
        PresenceMonitor().use { monitor ->
            assertFailsWith<HapticMatException.ModelNotLoaded> {
                monitor.start(MatSource.Simulated(seed = 1uL, realtime = false))
            }
        }
    }

    @Test
    fun `Bluetooth on a machine without it is BluetoothUnavailable, never a crash`() = runBlocking<Unit> {
        assumeTrue(File("/sys/class/bluetooth").list().isNullOrEmpty(), "this machine has a Bluetooth adapter")
        assertFailsWith<HapticMatException.BluetoothUnavailable> { HapticMat.scanForMats(1.seconds) }
        PresenceMonitor().use { monitor ->
            monitor.loadModel(TestEnvironment.model)
            assertFailsWith<HapticMatException.BluetoothUnavailable> { monitor.start(MatSource.Bluetooth(null)) }
            assertEquals(SessionStatus.Idle, monitor.state.session)
        }
    }

    @Test
    fun `bad files are named by kind and file name`() = runBlocking<Unit> {
        PresenceMonitor().use { monitor ->
            val e = assertFailsWith<HapticMatException.InvalidModel> { monitor.loadModel(File("/nowhere/model.onnx")) }
            assertTrue(e.message!!.contains("model.onnx") && !e.message!!.contains("/nowhere"), e.message)
            monitor.loadModel(TestEnvironment.model)
            assertFailsWith<HapticMatException.Recording> {
                monitor.start(MatSource.Replay(listOf("/nowhere/missing.csv"), realtime = false))
            }
            assertFailsWith<HapticMatException.InvalidArgument> { monitor.calibrate((-1).seconds) }
            // The barometer: hPa as Android reports it; a faulty reading is refused, a real one taken.
            monitor.setAmbientPressure(1013.25f)
            val bad = assertFailsWith<HapticMatException.InvalidArgument> { monitor.setAmbientPressure(3.2f) }
            assertTrue(bad.message!!.contains("ambient pressure"), bad.message)
            assertFailsWith<HapticMatException.InvalidArgument> { monitor.setAmbientPressure(Float.NaN) }
        }
    }
}
