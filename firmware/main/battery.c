/* The battery sense's arithmetic (battery.h). */
#include "battery.h"

int32_t shidi_battery_cell_mv(int32_t adc_mv, int32_t divider_x1000)
{
    return (int32_t)(((int64_t)adc_mv * divider_x1000) / 1000);
}

int32_t shidi_battery_permille(const shidi_battery_point *curve, int n, int32_t cell_mv)
{
    if (n <= 0) return 0;
    if (cell_mv >= curve[0].mv) return curve[0].permille;
    for (int i = 1; i < n; i++) {
        const shidi_battery_point *hi = &curve[i - 1], *lo = &curve[i];
        if (cell_mv < lo->mv) continue;
        if (hi->mv == lo->mv) return hi->permille;
        return lo->permille + (int32_t)((int64_t)(cell_mv - lo->mv) * (hi->permille - lo->permille) / (hi->mv - lo->mv));
    }
    return curve[n - 1].permille;
}

bool shidi_battery_flat(shidi_battery_watch *w, int32_t cell_mv, int32_t cutoff_mv, int needed)
{
    w->below = cell_mv < cutoff_mv ? w->below + 1 : 0;
    return w->below >= needed;
}
