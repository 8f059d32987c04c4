/* A UDP echo server for the networking tests, static so it runs in the busybox image (whose
 * busybox has no UDP server): udp_echo PORT answers every datagram with "echo:" + its payload
 * and prints the payload on stdout (docker logs shows it). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: udp_echo PORT\n");
        return 2;
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[1]));
    if (s < 0 || bind(s, (struct sockaddr*)&a, sizeof a) != 0) {
        perror("udp_echo: bind");
        return 1;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    for (;;) {
        char buf[1500], out[1510];
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf - 1, 0, (struct sockaddr*)&from, &len);
        if (n < 0) continue;
        buf[n] = 0;
        printf("%s\n", buf);
        int m = snprintf(out, sizeof out, "echo:%s", buf);
        sendto(s, out, (size_t)m, 0, (struct sockaddr*)&from, len);
    }
}
