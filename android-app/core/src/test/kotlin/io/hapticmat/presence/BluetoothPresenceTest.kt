package io.hapticmat.presence

import io.hapticmat.core.ConnectionStatus
import io.hapticmat.core.MatSource
import io.hapticmat.core.MonitorState
import io.hapticmat.core.PresenceState
import io.hapticmat.core.SessionStatus
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
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

    @Test
    fun `the emulated mat over Bluetooth gives presence states`() = runBlocking<Unit> {
        if (address.isBlank()) {
            if (System.getProperty("hapticmat.requireEmulator") == "1") {
                fail("no mat emulator: scripts/test-kotlin.sh starts one (scripts/mat-emulator.sh)")
            }
            assumeTrue(false, "no mat emulator (run through scripts/test-kotlin.sh)")
        }
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
