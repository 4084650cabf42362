package io.hapticmat.app.domain

/**
 * One frame of the mat: the absolute pressure in pascal of each bladder, in bladder order 1..[BLADDERS].
 */
data class PressureFrame(val timestampMillis: Long, val pascals: List<Float>) {
    init {
        require(pascals.size == BLADDERS) { "a mat frame has $BLADDERS bladder pressures, got ${pascals.size}" }
    }

    companion object {
        /** Bladders in the mat; the frame layout (four little-endian f32 after a header byte) is docs/design.md §2. */
        const val BLADDERS = 4
    }
}
