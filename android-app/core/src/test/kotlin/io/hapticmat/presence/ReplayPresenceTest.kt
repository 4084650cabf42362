package io.hapticmat.presence

import io.hapticmat.core.BaselineStatus
import io.hapticmat.core.ConnectionStatus
import io.hapticmat.core.MatSource
import io.hapticmat.core.MonitorState
import io.hapticmat.core.PresenceState
import io.hapticmat.core.SessionStatus
import kotlin.test.assertEquals
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test

class ReplayPresenceTest {
    /** The real recordings played as one session: empty mat, a person, empty mat again. */
    private fun session(realtime: Boolean = false) = MatSource.Replay(
        listOf(TestEnvironment.emptyMat, TestEnvironment.personOnMat, TestEnvironment.emptyMat).map { it.path },
        realtime,
    )

    @Test
    fun `the real recordings go absent then present then absent through the state flow`() = runBlocking<Unit> {
        PresenceMonitor().use { monitor ->
            monitor.loadModel(TestEnvironment.model)
            monitor.absenceTimeout = 20.seconds
            val states = Channel<MonitorState>(Channel.UNLIMITED)
            val timeouts = Channel<Duration>(Channel.UNLIMITED)
            val stateJob = launch(Dispatchers.Default) { monitor.states.collect { states.send(it) } }
            val timeoutJob = launch(Dispatchers.Default) { monitor.absenceTimeouts.collect { timeouts.send(it) } }
            // The current state arrives at once: the subscription is live before the session starts.
            assertEquals(SessionStatus.Idle, withTimeout(10.seconds) { states.receive() }.session)
            eventually { monitor.subscriptionCount == 2 }

            monitor.start(session())
            val seen = mutableListOf<MonitorState>()
            withTimeout(60.seconds) {
                do {
                    val s = states.receive()
                    seen += s
                } while (s.session == SessionStatus.Running)
            }

            assertEquals(SessionStatus.Ended, seen.last().session, "the replay ends by itself")
            val decided = seen.filter { it.presence != PresenceState.UNKNOWN }
            val runs = decided.map { it.present }.fold(listOf<Boolean>()) { acc, p -> if (acc.lastOrNull() == p) acc else acc + p }
            assertEquals(listOf(false, true, false), runs, "presence over the session: ${decided.map { it.presence }}")
            assertTrue(seen.any { it.connection is ConnectionStatus.Connected }, "the replay reports it is connected")
            assertTrue(seen.any { it.baseline == BaselineStatus.Automatic }, "a still stretch became the baseline")

            // 57 s of empty mat at the start: the 20 s absence timeout fires, with how long.
            val first = withTimeout(5.seconds) { timeouts.receive() }
            assertTrue(first >= 20.seconds && first < 25.seconds, "absent for $first")

            val stats = monitor.stats
            assertEquals(3L * 382, stats.frames.toLong(), "every row of the three files is a frame")
            assertTrue(stats.inferences.toLong() > 0)
            assertNotNull(stats.inferenceP50Us)
            stateJob.cancelAndJoin()
            timeoutJob.cancelAndJoin()
        }
    }

    @Test
    fun `frames carry the four bladder pressures of the recording`() = runBlocking<Unit> {
        PresenceMonitor().use { monitor ->
            monitor.loadModel(TestEnvironment.model)
            val frame = async(Dispatchers.Default) { monitor.frames.first() }
            eventually { monitor.subscriptionCount == 1 }
            monitor.start(session(realtime = true))
            val f = withTimeout(10.seconds) { frame.await() }
            assertEquals(4, f.pressuresPa.size)
            // An empty mat reads ≈ 98.2 kPa per bladder (docs/design.md §2).
            f.pressuresPa.forEach { assertTrue(it in 97_000f..99_500f, "pressure $it Pa") }
            assertTrue(f.receivedAtMs > 0)
            monitor.stop()
            assertEquals(SessionStatus.Idle, monitor.state.session, "stopped by the app")
        }
    }
}
