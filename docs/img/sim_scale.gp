# Plot bench/sim_scale's CSV: rounds for one write to reach every node vs N,
# with log2(N) and the asserted 2*log2(N) beside it.
#   build/release/bench/sim_scale --csv /tmp/sim_scale.csv
#   gnuplot -e "csv='/tmp/sim_scale.csv'" docs/img/sim_scale.gp   # writes docs/img/sim_scale.png
if (!exists("csv")) csv = '/tmp/sim_scale.csv'
if (!exists("out")) out = 'docs/img/sim_scale.png'
set terminal pngcairo size 800,500 noenhanced
set output out
set title 'gossipkv simulator: gossip rounds until one write is on every node'
set logscale x 10
set xlabel 'nodes (N)'
set ylabel 'rounds (gossip intervals)'
set key top left
set label 1 'N >= 5000: cluster formed from a member snapshot (sim_restore_all), then the real protocol' at graph 0.98, graph 0.45 right font ',9'
set grid
plot csv using 1:3 with linespoints lw 2 title 'p50', \
     csv using 1:4 with linespoints lw 2 title 'p99', \
     csv using 1:5 with linespoints lw 2 title 'max', \
     csv using 1:2 with lines dt 2 lw 2 title 'log2(N)', \
     csv using 1:(log($1)/log(4) + log($1)/3) with lines dt 4 lw 2 title 'log4(N) + ln(N)/3 (push gossip, f = 3)', \
     csv using 1:($2*2) with lines dt 3 lw 2 title '2 log2(N) (asserted bound, c = 2)'
