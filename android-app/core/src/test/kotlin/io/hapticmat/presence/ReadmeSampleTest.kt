package io.hapticmat.presence

import io.hapticmat.core.MatSource
import io.hapticmat.core.PresenceState
import io.hapticmat.core.SessionStatus
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlin.time.Duration
import kotlin.time.Duration.Companion.minutes
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.plus
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test

/** The README's Kotlin sample, kept compiling and working: what an Android developer copies. */
class ReadmeSampleTest {
    @Test
    fun `the README sample shows the presence state live`() = runBlocking<Unit> {
        val scope = this + Dispatchers.Default
        val modelFile = TestEnvironment.model
        // On the phone: MatSource.Bluetooth(nameOrId = null), the first mat in range.
        val source = MatSource.Replay(listOf(TestEnvironment.emptyMat.path, TestEnvironment.personOnMat.path), realtime = false)
        val shown = mutableListOf<PresenceState>()
        val timeouts = mutableListOf<Duration>()
        fun showState(state: PresenceState) { shown += state }
        fun stopHapticSession(absentFor: Duration) { timeouts += absentFor }

        // --- README sample ---
        val monitor = PresenceMonitor()                  // blocking work runs on Dispatchers.IO
        monitor.loadModel(modelFile)                     // or monitor.useInstalledModel(updates)
        monitor.absenceTimeout = 10.minutes
        val ui = scope.launch { monitor.presence.collect { state -> showState(state) } }
        val timer = scope.launch { monitor.absenceTimeouts.collect { absentFor -> stopHapticSession(absentFor) } }
        eventually { monitor.subscriptionCount == 2 }    // (test only: a replay at full speed is quicker than a launch)
        monitor.start(source)
        // … later, e.g. in onCleared():
        monitor.states.first { it.session != SessionStatus.Running }   // (test only: the replay's end)
        ui.cancel()                                      // collection ends → the Rust subscription ends
        timer.cancel()
        monitor.close()                                  // stops the session and frees native memory
        // --- end of README sample ---

        ui.join()
        timer.join()
        assertEquals(PresenceState.UNKNOWN, shown.first(), "the state before the session: $shown")
        assertTrue(PresenceState.ABSENT in shown, "$shown")
        assertTrue(shown.any { it != PresenceState.ABSENT && it != PresenceState.UNKNOWN }, "someone sat or lay: $shown")
        assertTrue(timeouts.isEmpty(), "a minute of empty mat is less than the ten-minute timeout")
    }
}
