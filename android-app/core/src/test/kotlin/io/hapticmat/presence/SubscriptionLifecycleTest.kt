package io.hapticmat.presence

import io.hapticmat.core.MatSource
import io.hapticmat.core.PresenceState
import io.hapticmat.core.SessionStatus
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test

class SubscriptionLifecycleTest {
    @Test
    fun `cancelling a collection ends its subscription in Rust`() = runBlocking<Unit> {
        PresenceMonitor().use { monitor ->
            monitor.loadModel(TestEnvironment.model)
            monitor.start(MatSource.Simulated(seed = 7uL, realtime = true))
            val states = launch(Dispatchers.Default) { monitor.states.collect {} }
            val frames = launch(Dispatchers.Default) { monitor.frames.collect {} }
            eventually { monitor.subscriptionCount == 2 }
            states.cancelAndJoin()
            assertEquals(1, monitor.subscriptionCount)
            frames.cancelAndJoin()
            assertEquals(0, monitor.subscriptionCount)
            assertTrue(monitor.state.session == SessionStatus.Running, "the session itself goes on")
        }
    }

    @Test
    fun `a flow that completes on its own unsubscribes too`() = runBlocking<Unit> {
        PresenceMonitor().use { monitor ->
            val first = monitor.states.take(1).toList()
            assertEquals(PresenceState.UNKNOWN, first.single().presence)
            assertEquals(0, monitor.subscriptionCount)
        }
    }

    @Test
    fun `closing frees the native objects and later calls throw`() = runBlocking<Unit> {
        val before = HapticMat.nativeObjectCount
        val monitor = PresenceMonitor()
        monitor.loadModel(TestEnvironment.model)
        monitor.start(MatSource.Simulated(seed = 1uL, realtime = true))
        val job = launch(Dispatchers.Default) { monitor.states.collect {} }
        eventually { monitor.subscriptionCount == 1 }
        assertEquals(before + 2, HapticMat.nativeObjectCount, "the monitor and one subscription")
        job.cancelAndJoin()
        monitor.close()
        monitor.close()
        assertEquals(before, HapticMat.nativeObjectCount)
        assertFailsWith<IllegalStateException> { monitor.state }
    }
}
