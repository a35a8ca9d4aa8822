"""Training's fast paths on a CPU (packed rows, fused loss, norm and rotary embedding, the
heap kept between steps) and the benchmark that holds them to naive code."""
