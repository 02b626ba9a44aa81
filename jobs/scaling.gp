# scaling.gp - the PNG plots of a jobs/scaling sweep. Run in its results directory, after
# `jobs/scaling-csv.py plotdata results.csv .` wrote the medians there (jobs/scaling does both):
#     cd DIR && gnuplot /path/to/jobs/scaling.gp
# Reads plot-vars.gp (which sweeps ran, sizes, titles) and plot-*.dat; writes only the plots of
# the sweeps that ran: strong-speedup.png, strong-efficiency.png (strong), weak-efficiency.png
# (weak), throughput.png (strong or weak), phases.png (strong or hybrid), combine.png, chunk.png.
# Every point is a median over the runs; error bars span the fastest and the slowest run.

load 'plot-vars.gp'
set terminal pngcairo size 1000,620 noenhanced font "Sans,11"
set datafile commentschars "#"
set linetype 1 lc rgb '#1f77b4' lw 2 pt 7 ps 1.3
set linetype 2 lc rgb '#ff7f0e' lw 2 pt 5 ps 1.3
set linetype 3 lc rgb '#2ca02c' lw 2 pt 9 ps 1.3
set linetype 4 lc rgb '#d62728' lw 2 pt 11 ps 1.3
set linetype 5 lc rgb '#9467bd' lw 2 pt 13 ps 1.3
set linetype 6 lc rgb '#8c564b' lw 2 pt 15 ps 1.3
set linetype 7 lc rgb '#b0b0b0' lw 2 pt 3 ps 1.3
set grid
set key top left box opaque
set bmargin 5
set xlabel offset 0,-0.6

# The ranges (before any axis is set: stats obeys the current ranges). tmax: MB/s per core.
tmax = 0
if (has_strong) {
    stats 'plot-strong.dat' using 10 name 'SP' nooutput
    stats 'plot-strong.dat' using 13 name 'EF' nooutput
    stats 'plot-strong.dat' using 16 name 'TS' nooutput
    tmax = TS_max
}
if (has_weak) {
    stats 'plot-weak.dat' using 10 name 'WE' nooutput
    stats 'plot-weak.dat' using 13 name 'TW' nooutput
    tmax = (TW_max > tmax ? TW_max : tmax)
}

# Core axes: linear up to 8 cores, log2 beyond (powers of two spread evenly).
logx = (maxc >= 8)
xmin = logx ? 0.75 : 0
xmax = logx ? maxc * 1.3 : maxc + 0.6
corelabel(c, layout) = sprintf("%d\n(%s)", c, layout)
mib(x) = (x >= 100 ? sprintf("%.0f", x) : sprintf("%.3g", x)) # sizes in titles: bytes read, rounded
if (logx) { set logscale x 2 }

if (has_strong) {
    set output 'strong-speedup.png'
    set title sprintf("Strong scaling: speed-up on a fixed %s MiB input (%d thread(s) per rank; median of %d runs, bars: min-max)", mib(strong_mib), strong_tpr, runs)
    set xlabel 'cores  (ranks x threads per rank)'
    set ylabel sprintf('speed-up = %d x T(%d cores) / T(cores)', strong_c0, strong_c0)
    set xrange [xmin:xmax]
    ytop = (SP_max > xmax ? SP_max * 1.1 : xmax)
    if (logx) { set logscale y 2; set yrange [xmin:ytop] } else { set yrange [0:ytop] }
    plot 'plot-strong.dat' using 1:8:9:10:xtic(corelabel($1, strcol(4))) with yerrorlines lt 1 title 'measured (median)', \
         x with lines dt 2 lw 2 lc rgb 'gray40' title 'ideal: speed-up = cores'
    unset logscale y

    set output 'strong-efficiency.png'
    set title sprintf("Strong scaling: parallel efficiency on a fixed %s MiB input (median of %d runs, bars: min-max)", mib(strong_mib), runs)
    set ylabel 'efficiency = speed-up / cores'
    set yrange [0:(EF_max > 1 ? EF_max : 1) * 1.15]
    set key bottom left
    plot 'plot-strong.dat' using 1:11:12:13:xtic(corelabel($1, strcol(4))) with yerrorlines lt 1 title 'measured (median)', \
         1 with lines dt 2 lw 2 lc rgb 'gray40' title 'ideal: 1.0'
    set key top left
}

if (has_weak) {
    set output 'weak-efficiency.png'
    set title sprintf("Weak scaling: %s MiB per rank (%d thread(s) per rank; median of %d runs, bars: min-max)", mib(weak_mib), weak_tpr, runs)
    set xlabel 'cores  (ranks x threads per rank)'
    set ylabel 'efficiency = T(fewest cores) / T(cores)'
    set xrange [xmin:xmax]
    set yrange [0:(WE_max > 1 ? WE_max : 1) * 1.15]
    set key bottom left
    plot 'plot-weak.dat' using 1:8:9:10:xtic(corelabel($1, strcol(4))) with yerrorlines lt 2 title 'measured (median)', \
         1 with lines dt 2 lw 2 lc rgb 'gray40' title 'ideal: 1.0 (constant time)'
    set key top left
}

if (has_strong || has_weak) {
    set output 'throughput.png'
    set title sprintf("Throughput per core (median of %d runs, bars: min-max)", runs)
    set xlabel 'cores'
    set ylabel 'MB/s per core  (bytes read / whole run / cores)'
    set xrange [xmin:xmax]
    set yrange [0:tmax * 1.2]
    cmd = 'plot '
    if (has_strong) {
        cmd = cmd . sprintf("'plot-strong.dat' using 1:14:15:16:xtic(corelabel($1, strcol(4))) with yerrorlines lt 1 title 'strong: fixed %s MiB', ", mib(strong_mib))
        cmd = cmd . sprintf("%g with lines dt 2 lw 2 lc rgb 'gray40' title 'ideal: flat at the strong baseline'", strong_mbpc0)
    }
    if (has_weak) {
        cmd = cmd . (has_strong ? ', ' : '') . sprintf("'plot-weak.dat' using 1:11:12:13%s with yerrorlines lt 2 title 'weak: %s MiB per rank'", has_strong ? '' : ':xtic(corelabel($1, strcol(4)))', mib(weak_mib))
    }
    eval cmd
}
unset logscale x

if (has_strong || has_hybrid) {
    names = 'discover distribute map local_merge combine output other'
    # bars FILE TITLED : one stacked bar per row of FILE, a segment per phase (columns 2-8).
    bars(f, titled) = sprintf("'%s' using 2:xtic(1) %s", f, titled ? "title 'discover'" : 'notitle')
    seg(k, titled) = sprintf(", '' using %d %s", k, titled ? sprintf("title '%s'", word(names, k - 1)) : 'notitle')
    cmd = 'plot '
    if (has_strong) {
        cmd = cmd . "newhistogram 'strong: fixed input, R x T' offset 0,-0.8 lt 1, " . bars('plot-phases-strong.dat', 1)
        do for [k = 3:8] { cmd = cmd . seg(k, 1) }
    }
    if (has_hybrid) {
        cmd = cmd . (has_strong ? ', ' : '') . sprintf("newhistogram 'hybrid: %d cores, R x T' offset 0,-0.8 lt 1, ", maxc) . bars('plot-phases-hybrid.dat', !has_strong)
        do for [k = 3:8] { cmd = cmd . seg(k, !has_strong) }
    }
    set output 'phases.png'
    set title sprintf("Time per phase (median of %d runs; each phase: its slowest rank; other: start-up, placement, agreement)", runs)
    unset xlabel
    set ylabel 'seconds'
    set style data histograms
    set style histogram rowstacked
    set style fill solid 0.85 border rgb 'black'
    set boxwidth 0.7
    set key outside right top
    set xrange [*:*]
    set yrange [0:*]
    set xtics nomirror
    set grid noxtics ytics
    eval cmd
    set key inside top left
    set grid xtics ytics
    set xlabel offset 0,-0.6
}

if (has_combine) {
    set output 'combine.png'
    set style data histograms
    set style histogram clustered gap 1
    set style fill solid 0.85 border rgb 'black'
    set boxwidth 0.9
    set xrange [*:*]
    set grid noxtics ytics
    set key inside top left vertical
    set multiplot layout 1,2 title sprintf("Combining the ranks' tables: MPI_Reduce vs hash shuffle (%s MiB, %d distinct keys; median of %d runs)", mib(combine_mib), combine_keys, runs)
    set title 'combine phase (slowest rank)'
    set xlabel 'layout: ranks x threads per rank'
    set ylabel 'seconds'
    set yrange [0:combine_ymax1 * 1.35]
    plot 'plot-combine.dat' using 2:xtic(1) lt 1 title 'reduce', '' using 3 lt 2 title 'shuffle'
    set title 'whole run'
    set yrange [0:combine_ymax2 * 1.35]
    plot 'plot-combine.dat' using 4:xtic(1) lt 1 title 'reduce', '' using 5 lt 2 title 'shuffle'
    unset multiplot
    set grid xtics ytics
}

if (has_chunk) {
    set output 'chunk.png'
    set title sprintf("Chunk (split) size: %s MiB on %s ranks x threads (median of %d runs, bars: min-max)", mib(chunk_mib), chunk_layout, runs)
    set xlabel '--chunk-size  (auto: the size mrcount chose)'
    set ylabel 'seconds'
    set style data histograms
    set style histogram errorbars gap 1 lw 1.5
    set style fill solid 0.85 border rgb 'black'
    set boxwidth 0.9
    set xrange [*:*]
    set grid noxtics ytics
    set key inside top center horizontal
    set yrange [0:chunk_ymax * 1.25]
    plot 'plot-chunk.dat' using 2:3:4:xtic(1) lt 1 title 'whole run', '' using 5:5:5 lt 3 title 'map phase (slowest rank)'
}
