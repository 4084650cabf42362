package io.hapticmat.app.ui.navigation

import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.filled.Home
import androidx.compose.material.icons.filled.Info
import androidx.compose.material.icons.filled.Settings
import androidx.compose.ui.graphics.vector.ImageVector

/** The app's three screens, each one tap away in the navigation bar. */
enum class TopLevelDestination(val label: String, val icon: ImageVector) {
    /** Who is on the mat now. */
    Live("Live", Icons.Filled.Home),

    /** The presence model and its updates. */
    Model("Model", Icons.Filled.Info),

    /** Pairing, calibration and the absence timeout. */
    Settings("Settings", Icons.Filled.Settings),
}
