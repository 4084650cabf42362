package io.hapticmat.app.model

import io.hapticmat.app.domain.NetworkConditions
import io.hapticmat.app.domain.NetworkKind
import io.hapticmat.app.domain.UpdateOutcome
import io.hapticmat.app.domain.UpdateProgress
import io.hapticmat.app.testing.T0
import io.hapticmat.app.testing.TestPresenceRepository
import io.hapticmat.app.testing.holderScope
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.advanceTimeBy
import kotlinx.coroutines.test.runCurrent
import kotlinx.coroutines.test.runTest
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.minutes

class UpdateScheduleTest {
    private val repository = TestPresenceRepository()
    private val network = object : NetworkConditions {
        override val kind = MutableStateFlow(NetworkKind.None)
    }

    private fun TestScope.started(): UpdateSchedule = UpdateSchedule(repository, network, holderScope()).also { it.start() }

    /** Ends the update the schedule is running, as the core would. */
    private fun TestScope.finishUpdate() {
        backgroundScope.launch { repository.updateSteps.emit(UpdateProgress.Finished(UpdateOutcome.UpToDate(T0, "1.0.0"))) }
        runCurrent()
    }

    @Test
    fun `the first check waits for a network and runs as soon as there is one`() = runTest {
        val schedule = started()
        advanceTimeBy(3.hours)
        assertEquals(0, repository.updateRequests, "offline: nothing is tried")

        network.kind.value = NetworkKind.Metered
        runCurrent()
        assertEquals(1, repository.updateRequests)
        assertEquals(1, schedule.checks)
        finishUpdate()
    }

    @Test
    fun `with wi-fi only a metered network waits and wi-fi lets the check run`() = runTest {
        repository.setUpdateOnWifiOnly(true)
        network.kind.value = NetworkKind.Metered
        started()
        advanceTimeBy(1.hours)
        assertEquals(0, repository.updateRequests, "mobile data is not used")

        network.kind.value = NetworkKind.Unmetered
        runCurrent()
        assertEquals(1, repository.updateRequests)
        finishUpdate()
    }

    @Test
    fun `after a check the next one comes a day later`() = runTest {
        network.kind.value = NetworkKind.Unmetered
        started()
        runCurrent()
        assertEquals(1, repository.updateRequests, "a check at start")
        finishUpdate()

        advanceTimeBy(23.hours + 59.minutes)
        assertEquals(1, repository.updateRequests)
        advanceTimeBy(2.minutes)
        assertEquals(2, repository.updateRequests, "and one a day after")
        finishUpdate()
    }

    @Test
    fun `the rule of networks`() {
        assertTrue(updateAllowed(NetworkKind.Unmetered, wifiOnly = true))
        assertTrue(updateAllowed(NetworkKind.Metered, wifiOnly = false))
        assertFalse(updateAllowed(NetworkKind.Metered, wifiOnly = true))
        assertFalse(updateAllowed(NetworkKind.None, wifiOnly = false))
    }
}
