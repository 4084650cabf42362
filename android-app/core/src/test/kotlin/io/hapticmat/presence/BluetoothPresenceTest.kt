package io.hapticmat.presence

import io.hapticmat.core.ConnectionStatus
import io.hapticmat.core.MatDevice
import io.hapticmat.core.MatSource
import io.hapticmat.core.MonitorState
import io.hapticmat.core.PresenceState
import io.hapticmat.core.SessionStatus
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test

/**
 * `MatSource.Bluetooth` through the real library and btleplug's real Linux backend, against the emulated
 * mat of scripts/mat-emulator.sh (streaming the recording of the empty mat). Runs in its own JVM
 * (pom.xml's `bluetooth` execution) because libdbus reads `DBUS_SYSTEM_BUS_ADDRESS` once per process and
 * ErrorsTest needs a process without a system bus.
 */
class BluetoothPresenceTest {
    private val address = System.getProperty("hapticmat.dbusAddress").orEmpty()

    private fun requireEmulator() {
        if (address.isBlank()) {
            if (System.getProperty("hapticmat.requireEmulator") == "1") {
                fail("no mat emulator: scripts/test-kotlin.sh starts one (scripts/mat-emulator.sh)")
            }
            assumeTrue(false, "no mat emulator (run through scripts/test-kotlin.sh)")
        }
    }

    /** What the emulated BlueZ saw (scripts/mat_emulator.py keeps it in stats.json). */
    private fun emulatorStats(): String = File(System.getProperty("hapticmat.emulatorStats")).readText()

    private fun scansStarted(): Int = Regex("\"scans\": (\\d+)").find(emulatorStats())!!.groupValues[1].toInt()

    private fun radioScanning(): Boolean = emulatorStats().contains("\"discovering\": true")

    @Test
    fun `one streaming scan lists the mat as it is heard and cancelling it stops the radio`() = runBlocking<Unit> {
        requireEmulator()
        val startsBefore = scansStarted()
        val lists = mutableListOf<List<MatDevice>>()
        // Collect for longer than the old 3 s slices: still one scan start.
        withTimeout(30.seconds) {
            HapticMat.scanMats().first { list ->
                lists += list
                list.any { it.name == "Seroton-EMU" }
            }
        }
        assertEquals(emptyList(), lists.first(), "it starts with nothing heard")
        val mat = lists.last().first { it.name == "Seroton-EMU" }
        assertTrue(mat.rssi != null, "a device heard in this scan has a signal: $mat")
        // `first` cancelled the Flow: the core stops the radio on its scan thread.
        eventually { !radioScanning() }
        assertEquals(startsBefore + 1, scansStarted(), "one scan start for the whole scan")
        eventually { HapticMat.nativeObjectCount == 0L }
    }

    @Test
    fun `a streaming scan kept open for five seconds is still one scan start and stops when cancelled`() = runBlocking<Unit> {
        requireEmulator()
        val startsBefore = scansStarted()
        val job = launch(Dispatchers.Default) { HapticMat.scanMats().collect {} }
        eventually { radioScanning() }
        delay(5.seconds)
        assertTrue(radioScanning(), "still scanning while collected")
        assertEquals(startsBefore + 1, scansStarted(), "never restarted")
        job.cancelAndJoin()
        eventually { !radioScanning() }
    }

    @Test
    fun `the emulated mat over Bluetooth gives presence states`() = runBlocking<Unit> {
        requireEmulator()
        assertEquals(address, System.getenv("DBUS_SYSTEM_BUS_ADDRESS"), "the JVM talks to the emulator's bus")
        PresenceMonitor().use { monitor ->
            monitor.loadModel(TestEnvironment.model)
            val states = Channel<MonitorState>(Channel.UNLIMITED)
            val job = launch(Dispatchers.Default) { monitor.states.collect { states.send(it) } }
            eventually { monitor.subscriptionCount == 1 }

            monitor.start(MatSource.Bluetooth("Seroton-EMU"))
            val seen = mutableListOf<MonitorState>()
            // The empty mat: its first still stretch becomes the baseline, then the model decides (a few
            // seconds at the mat's ~6.7 Hz).
            withTimeout(60.seconds) {
                do {
                    val s = states.receive()
                    seen += s
                } while (s.presence == PresenceState.UNKNOWN && s.session != SessionStatus.Ended)
            }
            val connected = seen.map { it.connection }.filterIsInstance<ConnectionStatus.Connected>()
            assertTrue(connected.any { it.source == "Seroton-EMU" }, "connected to the emulated mat: ${seen.map { it.connection }.distinct()}")
            assertTrue(seen.any { it.connection is ConnectionStatus.Scanning }, "it scanned first")
            assertEquals(SessionStatus.Running, seen.last().session)
            assertEquals(PresenceState.ABSENT, seen.last().presence, "the empty mat: ${seen.last()}")
            assertTrue(!seen.last().present)
            assertTrue(monitor.stats.frames.toLong() > 10, "frames arrived: ${monitor.stats.frames}")
            monitor.stop()
            assertEquals(SessionStatus.Idle, monitor.state.session, "stopped by the app")
            job.cancelAndJoin()
        }
    }
}
