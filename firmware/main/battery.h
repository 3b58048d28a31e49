/* The battery sense's arithmetic, portable (drv_battery.c reads the ADC): the cell's voltage from the ADC's
 * behind the divider, its state of charge on the board's curve (board/NAME.json battery.curve, as
 * SHIDI_BATTERY_CURVE in the generated header), and when to stop for a flat cell. Compiled and checked on
 * Linux by tests/firmware-drivers.test.ts against the board files. */
#ifndef SHIDI_BATTERY_H
#define SHIDI_BATTERY_H

#include <stdbool.h>
#include <stdint.h>

/* One point of the curve: the cell's voltage (mV) at a state of charge (per mille). */
typedef struct {
    int32_t mv;
    int32_t permille;
} shidi_battery_point;

/* The cell's voltage: the ADC's millivolts times the divider (divider_x1000 / 1000), rounded down. */
int32_t shidi_battery_cell_mv(int32_t adc_mv, int32_t divider_x1000);

/* State of charge in per mille at cell_mv, by straight lines between the curve's points (full first, empty
 * last, voltages never rising): 1000 at or above the first, 0 at or below the last; between two points of
 * equal voltage, the fuller. */
int32_t shidi_battery_permille(const shidi_battery_point *curve, int n, int32_t cell_mv);

/* A flat cell: `needed` readings in a row below the cut-off (one reading under the camera's or the card's
 * current spike is not enough). */
typedef struct {
    int below;
} shidi_battery_watch;
bool shidi_battery_flat(shidi_battery_watch *w, int32_t cell_mv, int32_t cutoff_mv, int needed);

#endif
