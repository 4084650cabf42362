package io.hapticmat.app.ui

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.assertIsDisplayed
import androidx.compose.ui.test.assertIsEnabled
import androidx.compose.ui.test.assertIsNotEnabled
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.performScrollTo
import androidx.compose.ui.test.runComposeUiTest
import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.notice.NoticeAction
import io.hapticmat.app.ui.live.LiveScreen
import io.hapticmat.app.ui.model.ModelScreen
import io.hapticmat.app.ui.navigation.HapticMatAppShell
import io.hapticmat.app.ui.navigation.TopLevelDestination
import io.hapticmat.app.ui.sample.SampleStates
import io.hapticmat.app.ui.settings.SettingsScreen
import io.hapticmat.app.ui.theme.HapticMatTheme
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import kotlin.time.Duration
import kotlin.time.Duration.Companion.minutes

/** The stateless screens, composed on the host JVM and driven through their semantics as a person would. */
@OptIn(ExperimentalTestApi::class)
class ScreensTest {
    @Test
    fun `live screen shows the state in words with its confidence`() = runComposeUiTest {
        setContent { HapticMatTheme(darkTheme = false) { LiveScreen(SampleStates.liveSitting, onNoticeAction = {}) } }

        onNodeWithText("Sitting").assertIsDisplayed()
        onNodeWithText("93 % sure").assertIsDisplayed()
        onNodeWithText("Connected to HapticMat-0042").assertIsDisplayed()
    }

    @Test
    fun `calibrate me is offered on the live screen and calls back`() = runComposeUiTest {
        var taps = 0
        setContent {
            HapticMatTheme(darkTheme = false) {
                LiveScreen(SampleStates.liveSitting, onNoticeAction = {}, onCalibrateMe = { taps++ })
            }
        }

        onNodeWithText("posture 86 % sure").assertIsDisplayed()
        onNodeWithText("Calibrated for you on this mat").performScrollTo().assertIsDisplayed()
        onNodeWithText("Calibrate me (lie fully on the mat for 10 s)").performScrollTo().assertIsEnabled().performClick()
        assertEquals(1, taps)
    }

    @Test
    fun `an unclear posture reads on the mat and a running calibration shows its countdown`() = runComposeUiTest {
        setContent {
            HapticMatTheme(darkTheme = false) { LiveScreen(SampleStates.liveCalibrating, onNoticeAction = {}) }
        }

        onNodeWithText("On the mat").assertIsDisplayed()
        onNodeWithText("posture unclear").assertIsDisplayed()
        onNodeWithText("posture 55 % sure").assertIsDisplayed()
        onNodeWithText("Measuring — lie still, 6 s left").performScrollTo().assertIsDisplayed()
        onNodeWithText("Calibrate me (lie fully on the mat for 10 s)").performScrollTo().assertIsNotEnabled()
    }

    @Test
    fun `a denied permission is explained and its button opens the app settings`() = runComposeUiTest {
        val actions = mutableListOf<NoticeAction>()
        setContent {
            HapticMatTheme(darkTheme = false) { LiveScreen(SampleStates.livePermissionDenied, actions::add) }
        }

        onNodeWithText("Bluetooth permission denied").assertIsDisplayed()
        onNodeWithText("Open app settings").performClick()
        assertEquals(listOf(NoticeAction.OpenAppSettings), actions)
    }

    @Test
    fun `a mat out of range is said on the live screen`() = runComposeUiTest {
        setContent {
            HapticMatTheme(darkTheme = false) { LiveScreen(SampleStates.liveOutOfRange, onNoticeAction = {}) }
        }

        onNodeWithText("Mat out of range — move the phone closer (retry 3)").assertIsDisplayed()
        onNodeWithText("Last seen at 14:03:12").assertIsDisplayed()
    }

    @Test
    fun `a failed update is shown with a retry`() = runComposeUiTest {
        var retries = 0
        setContent {
            HapticMatTheme(darkTheme = false) {
                ModelScreen(SampleStates.modelUpdateFailed, onUpdateNow = { retries++ }, onCancelUpdate = {})
            }
        }

        onNodeWithText("Update failed: no connection").assertIsDisplayed()
        onNodeWithText("Try again").performClick()
        assertEquals(1, retries)
    }

    @Test
    fun `a running update can be cancelled`() = runComposeUiTest {
        var cancels = 0
        setContent {
            HapticMatTheme(darkTheme = false) {
                ModelScreen(SampleStates.modelUpdating, onUpdateNow = {}, onCancelUpdate = { cancels++ })
            }
        }

        onNodeWithText("Downloading 420 kB of 840 kB").assertIsDisplayed()
        onNodeWithText("Cancel").performClick()
        assertEquals(1, cancels)
    }

    @Test
    fun `settings pair a scanned mat and pick the absence timeout`() = runComposeUiTest {
        val paired = mutableListOf<DiscoveredMat>()
        val timeouts = mutableListOf<Duration>()
        setContent {
            HapticMatTheme(darkTheme = false) {
                SettingsScreen(
                    SampleStates.settingsScanning,
                    onScan = {},
                    onStopScan = {},
                    onPair = paired::add,
                    onCalibrate = {},
                    onAbsenceTimeoutChange = timeouts::add,
                    onNoticeAction = {},
                )
            }
        }

        onNodeWithText("HapticMat-0007").performClick()
        onNodeWithText("30 min").performClick()
        assertEquals(listOf("E4:5F:01:00:00:07"), paired.map { it.id })
        assertEquals(listOf(30.minutes), timeouts)
    }

    @Test
    fun `the navigation bar switches screens`() = runComposeUiTest {
        val visited = mutableListOf<TopLevelDestination>()
        setContent {
            HapticMatTheme(darkTheme = false) {
                HapticMatAppShell(TopLevelDestination.Live, onNavigate = visited::add) { }
            }
        }

        onNodeWithText("Model").performClick()
        onNodeWithText("Settings").performClick()
        assertEquals(listOf(TopLevelDestination.Model, TopLevelDestination.Settings), visited)
    }
}
