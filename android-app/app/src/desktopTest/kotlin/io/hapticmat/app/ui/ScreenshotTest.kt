package io.hapticmat.app.ui

import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.compose.runtime.Composable
import androidx.compose.ui.ImageComposeScene
import androidx.compose.ui.unit.Density
import androidx.compose.ui.use
import io.hapticmat.app.live.LiveUiState
import io.hapticmat.app.ui.live.LiveScreen
import io.hapticmat.app.ui.model.ModelScreen
import io.hapticmat.app.ui.navigation.HapticMatAppShell
import io.hapticmat.app.ui.navigation.TopLevelDestination
import io.hapticmat.app.ui.sample.SampleStates
import io.hapticmat.app.ui.settings.SettingsScreen
import io.hapticmat.app.ui.theme.HapticMatTheme
import org.jetbrains.skia.EncodedImageFormat
import org.jetbrains.skia.Image
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.TestFactory
import java.io.File

/**
 * Renders the app's screens, in the app shell with the sample states, to PNG files with
 * [ImageComposeScene] (a CPU raster: no display needed). The same composables the Android app runs.
 *
 * Files go to the `hapticmat.screenshots.dir` system property (the Maven build sets target/screenshots;
 * scripts/test-app.sh --screenshots copies them to docs/screenshots/).
 */
class ScreenshotTest {
    private val outDir = File(System.getProperty("hapticmat.screenshots.dir") ?: "target/screenshots")

    /**
     * The real recording of a person on the mat and the real core's states for it, when
     * scripts/test-app.sh could make them (it needs the pipeline binary and a model).
     */
    private val recording = System.getProperty("hapticmat.recording")?.let(::File)?.takeIf { it.isFile }
    private val recordingStates = System.getProperty("hapticmat.recordingStates")?.let(::File)?.takeIf { it.isFile }

    private val realState: LiveUiState? =
        if (recording != null && recordingStates != null) RealRecordingScreen.state(recording, recordingStates) else null

    private val screens: Map<String, @Composable () -> Unit> = mapOf(
        "live-real-recording" to { realState?.let { state -> Shell(TopLevelDestination.Live) { LiveScreen(state, {}) } } },
        "live-sitting" to { Shell(TopLevelDestination.Live) { LiveScreen(SampleStates.liveSitting, {}) } },
        "live-calibrating" to { Shell(TopLevelDestination.Live) { LiveScreen(SampleStates.liveCalibrating, {}) } },
        "live-out-of-range" to { Shell(TopLevelDestination.Live) { LiveScreen(SampleStates.liveOutOfRange, {}) } },
        "live-permission-denied" to {
            Shell(TopLevelDestination.Live) { LiveScreen(SampleStates.livePermissionDenied, {}) }
        },
        "live-bluetooth-off" to { Shell(TopLevelDestination.Live) { LiveScreen(SampleStates.liveBluetoothOff, {}) } },
        "model-updating" to { Shell(TopLevelDestination.Model) { ModelScreen(SampleStates.modelUpdating, {}, {}) } },
        "model-update-failed" to {
            Shell(TopLevelDestination.Model) { ModelScreen(SampleStates.modelUpdateFailed, {}, {}) }
        },
        "settings-scanning" to {
            Shell(TopLevelDestination.Settings) {
                SettingsScreen(SampleStates.settingsScanning, {}, {}, {}, {}, {}, {})
            }
        },
    )

    @TestFactory
    fun `every screen renders to a png`(): List<DynamicTest> = screens.filterKeys { it != "live-real-recording" || realState != null }.map { (name, content) ->
        DynamicTest.dynamicTest(name) {
            val image = ImageComposeScene(WIDTH_PX, HEIGHT_PX, Density(DENSITY), content = content).use { it.render() }
            assertTrue(distinctColours(image) > 8, "$name rendered as a blank or flat image")
            val png = image.encodeToData(EncodedImageFormat.PNG) ?: error("Skia could not encode $name as PNG")
            outDir.mkdirs()
            File(outDir, "$name.png").writeBytes(png.bytes)
        }
    }

    @Composable
    private fun Shell(destination: TopLevelDestination, screen: @Composable () -> Unit) {
        HapticMatTheme(darkTheme = false) {
            Surface(color = MaterialTheme.colorScheme.surface) {
                HapticMatAppShell(destination, onNavigate = {}) { screen() }
            }
        }
    }

    private fun distinctColours(image: Image): Int {
        val bitmap = org.jetbrains.skia.Bitmap.makeFromImage(image)
        val colours = HashSet<Int>()
        for (y in 0 until bitmap.height step 7) for (x in 0 until bitmap.width step 7) colours += bitmap.getColor(x, y)
        return colours.size
    }

    private companion object {
        // A 360 × 760 dp phone at 1.5× density: readable in the docs, small in the repository.
        const val DENSITY = 1.5f
        const val WIDTH_PX = 540
        const val HEIGHT_PX = 1140
    }
}
