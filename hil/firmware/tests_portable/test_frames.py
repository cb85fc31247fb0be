# ruff: noqa: PT009 - unittest asserts: these files also run under MicroPython
"""Nonin format 7/8 and Masimo frame builders: golden bytes written from the protocol notes."""

import unittest

from fw_frames import (
    N7_GPRF,
    N8_SNSD,
    STAT2_LOW_BATTERY,
    PlethWave,
    masimo_line,
    nonin7_frame,
    nonin7_packet,
    nonin8_record,
    nonin_rate,
    nonin_spo2,
    nonin_stat2,
)


class NoninTest(unittest.TestCase):
    def test_format8_record(self):
        # HR 300 = 0b1_0010_1100: bits 8-7 = 0b10 in STATUS bits 1-0, bits 6-0 = 0x2C
        # STATUS 0x80 | 0x02 = 0x82; SpO2 95 = 0x5F; STAT2 low battery 0x01
        self.assertEqual(nonin8_record(300, 95, 0, STAT2_LOW_BATTERY), b"\x82\x2c\x5f\x01")

    def test_format8_missing(self):
        # HR 511 = bits 8-7 0b11, bits 6-0 0x7F; SpO2 127; STATUS 0x80 | SNSD 0x40 | 0x03
        self.assertEqual(nonin8_record(511, 127, N8_SNSD, 0), b"\xc3\x7f\x7f\x00")

    def test_format7_frame_checksum(self):
        # status 0x80|0x02|0x01 = 0x83, pleth 0x1234, value 0x48; chk = 0x83+0x12+0x34+0x48 = 0x111
        self.assertEqual(nonin7_frame(0x03, 0x1234, 0x48), b"\x83\x12\x34\x48\x11")

    def test_format7_packet_layout(self):
        pkt = nonin7_packet(72, 97, list(range(25)), N7_GPRF, timer=200, stat2=0)
        self.assertEqual(len(pkt), 125)
        frames = [pkt[k : k + 5] for k in range(0, 125, 5)]
        self.assertEqual(frames[0][0], 0x83)  # SYNC only on frame 1
        self.assertTrue(all(f[0] == 0x82 for f in frames[1:]))
        self.assertTrue(all((f[0] + f[1] + f[2] + f[3]) & 0xFF == f[4] for f in frames))
        values = [f[3] for f in frames]
        self.assertEqual(values[0:3], [0, 72, 97])  # HR MSB, HR LSB, SpO2
        self.assertEqual(values[5:7], [1, 200 - 128])  # timer 200 = 1 << 7 | 72
        self.assertEqual([f[2] for f in frames], list(range(25)))

    def test_conversions(self):
        self.assertEqual(nonin_rate(None), 511)
        self.assertEqual(nonin_rate(72.6), 73)
        self.assertEqual(nonin_rate(600), 511)
        self.assertEqual(nonin_spo2(None), 127)
        self.assertEqual(nonin_spo2(101.2), 100)
        self.assertEqual(nonin_stat2(50), 0)
        self.assertEqual(nonin_stat2(10), 1)
        self.assertEqual(nonin_stat2(3), 3)

    def test_pleth_follows_rate(self):
        w = PlethWave()
        one_second = w.samples(60.0, 75)
        self.assertEqual(len(one_second), 75)
        self.assertTrue(max(one_second) > min(one_second))
        self.assertEqual(PlethWave().samples(None, 5), [0, 0, 0, 0, 0])


class MasimoTest(unittest.TestCase):
    def test_line(self):
        line = masimo_line((2007, 5, 15, 8, 12, 21), 98, 72, 2.34)
        self.assertEqual(
            line,
            b"05/15/07 08:12:21 SN=0000070986 SPO2=098% BPM=072 PI=02.34% SPCO=--.-% "
            b"SPMET=--.-% DESAT=-- PIDELTA=+-- PVI=--- ALARM=0000 EXC=000000\r\n",
        )

    def test_no_values(self):
        line = masimo_line((2026, 1, 1, 0, 0, 0), None, None, None, exc=0x21, alarm=0x1A)
        self.assertTrue(b"SPO2=---% BPM=--- PI=--.--%" in line)
        self.assertTrue(line.endswith(b"ALARM=001A EXC=000021\r\n"))


if __name__ == "__main__":
    unittest.main()
