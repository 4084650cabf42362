package io.hapticmat.app

import kotlinx.coroutines.flow.SharingStarted

/**
 * How screen states share their upstream: collected while the screen is shown and 5 s after, so a
 * configuration change does not restart the flows (nowinandroid's convention).
 */
val WhileUiSubscribed: SharingStarted = SharingStarted.WhileSubscribed(stopTimeoutMillis = 5_000)
